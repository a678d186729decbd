"""Every Redis key the registry uses, in one place, all under ``lessonq:<instance>:``.

- ``lesson:<id>``  hash: the record's fields, ``step:<name>`` / ``start:<name>`` / ``end:<name>``
  per step, ``plan`` (the JSON the provisioning tasks work from) and ``vnis`` (its overlay
  links' VNIs, a JSON list by link);
- ``key:<slug>:<session>``  the id of the live lesson for that lesson and session (idempotency);
- ``session:<session>``  set of that session's live ids (not those tearing down);
- ``expiry``  zset id -> time the lesson expires unless kept alive (GC's idle clock);
- ``deadline``  zset id -> provisioning deadline, only while provisioning;
- ``heartbeat``  zset id -> when progress is next due, only while a task should be making
  progress (GC resumes lessons whose heartbeat went quiet);
- ``files:<version>``  a lesson folder's files (JSON), by their content's version, for the
  workers to build the lesson's ConfigMap from; it expires unless lessons keep asking for it;
- ``vni:used``  hash VNI -> the id of the lesson whose link uses it (overlay links);
- ``vni:quarantine``  zset VNI -> when it may be used again (its lesson is gone; a stale pod
  on a node that comes back could still send with it);
- ``vni:next``  string, where the next search for a free VNI starts;
- ``pool-sizes``  hash slug -> size: warm-pool sizes set by operators (they win over
  LESSONQ_WARM_POOL);
- ``pool:<slug>``  set: that pool's lessons no session has claimed (provisioning or READY; a
  pool lesson leaves it when claimed or when its teardown begins);
- ``pool:<slug>:ready``  set: those of them READY, which a create claims;
- ``pool:<slug>:stats``  hash: ``claims``, ``misses`` (creates that found none READY),
  ``refills`` (pool lessons READY), ``refill_seconds`` (their provisioning times, summed) and
  ``last_refill_seconds``.

Only the registry reads and writes them; everyone else asks the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

# What follows a pool's key in the keys of its READY lessons and of its figures (the scripts
# build those from the pool's key).
POOL_READY = ":ready"
POOL_STATS = ":stats"


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
    def vnis_used(self) -> str:
        return self.prefix + "vni:used"

    @property
    def vni_quarantine(self) -> str:
        return self.prefix + "vni:quarantine"

    @property
    def vni_next(self) -> str:
        return self.prefix + "vni:next"

    @property
    def pool_sizes(self) -> str:
        return self.prefix + "pool-sizes"

    def pool(self, slug: str) -> str:
        return f"{self.prefix}pool:{slug}"

    def pool_ready(self, slug: str) -> str:
        return self.pool(slug) + POOL_READY

    def pool_stats(self, slug: str) -> str:
        return self.pool(slug) + POOL_STATS

    @property
    def expiry(self) -> str:
        return self.prefix + "expiry"

    @property
    def deadline(self) -> str:
        return self.prefix + "deadline"

    @property
    def heartbeat(self) -> str:
        return self.prefix + "heartbeat"
