"""The REST + SSE API server (spec §8). Build it with ``api.app.create_app``."""
