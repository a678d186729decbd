"""The Celery tasks that provision, tear down and garbage-collect lessons."""
