"""The live-lesson registry in Redis: records, their indexes and every transition between them.

Shared by the intake side (which registers lessons and reads them) and the workers (which move
them along); all key names are in ``registry.keys``, the atomic transitions in ``registry/lua``.
"""

from registry.connection import connect, connect_failing_fast
from registry.records import (
    LESSON_ID_FORMAT,
    AdmissionRefused,
    LessonNotFound,
    LessonRegistry,
    NotStarted,
    Registered,
    StageConflict,
    VnisExhausted,
    new_lesson_id,
)

__all__ = [
    "LESSON_ID_FORMAT",
    "AdmissionRefused",
    "LessonNotFound",
    "LessonRegistry",
    "NotStarted",
    "Registered",
    "StageConflict",
    "VnisExhausted",
    "connect",
    "connect_failing_fast",
    "new_lesson_id",
]
