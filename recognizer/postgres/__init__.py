"""Django's PostgreSQL backend with a health check that costs no round trip while the server has said nothing
(``ENGINE = "recognizer.postgres"``, set in settings for every postgres:// ``DATABASE_URL``; see ``base.py``)."""
