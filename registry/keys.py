"""Every Redis key the registry uses, in one place, all under ``lessonq:<instance>:``.

- ``lesson:<id>``  hash: the record's fields, ``step:<name>`` / ``start:<name>`` / ``end:<name>``
  per step, and ``plan`` (the JSON the provisioning tasks work from);
- ``key:<slug>:<session>``  the id of the live lesson for that lesson and session (idempotency);
- ``session:<session>``  set of that session's live ids (not those tearing down);
- ``expiry``  zset id -> time the lesson expires unless kept alive (GC's idle clock);
- ``deadline``  zset id -> provisioning deadline, only while provisioning;
- ``heartbeat``  zset id -> when progress is next due, only while a task should be making
  progress (GC resumes lessons whose heartbeat went quiet);
- ``files:<version>``  a lesson folder's files (JSON), by their content's version, for the
  workers to build the lesson's ConfigMap from; it expires unless lessons keep asking for it.

Only the registry reads and writes them; everyone else asks the registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str

    @classmethod
    def of(cls, instance_id: str) -> Keys:
        return cls(f"lessonq:{instance_id}:")

    def record(self, lesson_id: str) -> str:
        return f"{self.prefix}lesson:{lesson_id}"

    def idempotency(self, slug: str, session_id: str) -> str:
        return f"{self.prefix}key:{slug}:{session_id}"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def files(self, version: str) -> str:
        return f"{self.prefix}files:{version}"

    @property
    def expiry(self) -> str:
        return self.prefix + "expiry"

    @property
    def deadline(self) -> str:
        return self.prefix + "deadline"

    @property
    def heartbeat(self) -> str:
        return self.prefix + "heartbeat"
