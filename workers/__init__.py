"""The Celery application: configuration, beat schedule and worker wiring."""
