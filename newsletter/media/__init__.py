"""Images: uploaded in the admin or fetched at ingest, checked and cleaned (images.py), stored once
by content (store.py) and served at /media/<key>.<ext> (web/public/media.py)."""
