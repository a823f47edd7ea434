"""The history wing: what happened to each tenant, kept in SQLite, and what is read from it.

The database and its writer thread (:mod:`.db`), availability from intervals
(:mod:`.availability`), what a session reads from it (:mod:`.reader`), and how `report` and
`history` print it (:mod:`.report_output`). Nothing here imports a screen or a server.
"""
