"""The HTTP intake: the lesson client as a JSON API (FastAPI on uvicorn).

`create_app()` builds the application; `serve()` runs it (``lessonq intake`` and
``python -m scheduler.intake`` call it).
"""

from scheduler.intake.app import create_app, serve

__all__ = ["create_app", "serve"]
