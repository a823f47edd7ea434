"""The board's wing: the Textual app (:mod:`.app`), its screens and widgets, the pacing of
redraws, and every reach into Textual's private parts (:mod:`.textual_overrides`).
"""
