"""The `serve` wing: the HTTP server (:mod:`.server`), its face on a session
(:mod:`.watcher`), the metrics (:mod:`.metrics`) and the status page (:mod:`.status_page`).
Nothing here imports Textual.
"""
