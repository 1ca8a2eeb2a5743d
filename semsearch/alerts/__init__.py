"""Saved searches and alerts: questions kept with the index, matched against every commit's new documents.

`store.py` keeps them (SQLite beside the index: the searches, their hits, the webhook outbox), `matching.py`
tests new passages against every saved search at once (the search's own relevance floor), `consumer.py`
walks the commits a process has not matched yet (store/changes.py's cursor), `atom.py` renders a feed of
hits, `webhooks.py` delivers them in the background. No HTTP server here: the routes are in
service/routes/alerts.py, the commands in cli.py.
"""
