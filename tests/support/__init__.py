"""Real processes for the tests: a Redis server, Celery workers and beat."""
