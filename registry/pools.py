"""Warm pools in Redis: their sizes (LESSONQ_WARM_POOL, and what operators set since), the
lessons each holds and its figures. Pool lessons themselves are records like any other; the
scripts that create, claim, finish and tear them down keep the pool's sets (``registry.keys``).
"""

from __future__ import annotations

from collections.abc import Mapping

import redis
from redis.typing import EncodableT, FieldT

from config.settings import Settings
from lessons.pool import PoolStatus
from registry.keys import Keys


class Pools:
    def __init__(self, client: redis.Redis, settings: Settings, keys: Keys) -> None:
        self._redis = client
        self._settings = settings
        self._keys = keys

    def sizes(self) -> dict[str, int]:
        """Every pool's size: LESSONQ_WARM_POOL's, overridden by what operators set."""
        overrides = self._redis.hgetall(self._keys.pool_sizes)
        return {
            **self._settings.warm_pool,
            **{str(slug): int(size) for slug, size in overrides.items()},
        }

    def set_sizes(self, sizes: Mapping[str, int]) -> dict[str, int]:
        """Set these pools' sizes (0 empties one); the others keep theirs. Returns them all."""
        if sizes:
            fields: dict[FieldT, EncodableT] = {slug: size for slug, size in sizes.items()}
            self._redis.hset(self._keys.pool_sizes, mapping=fields)
        return self.sizes()

    def members(self, slug: str) -> list[str]:
        """The pool's lessons no session has claimed, READY or on their way."""
        return sorted(str(i) for i in self._redis.smembers(self._keys.pool(slug)))

    def statuses(self) -> list[PoolStatus]:
        """Every pool that has a size (0 included, once set), by slug."""
        sizes = self.sizes()
        pipe = self._redis.pipeline(transaction=False)
        for slug in sorted(sizes):
            pipe.scard(self._keys.pool(slug))
            pipe.scard(self._keys.pool_ready(slug))
            pipe.hgetall(self._keys.pool_stats(slug))
        replies = pipe.execute()
        statuses = []
        for index, slug in enumerate(sorted(sizes)):
            members, ready, stats = replies[3 * index : 3 * index + 3]
            statuses.append(
                PoolStatus(
                    slug=slug,
                    size=sizes[slug],
                    ready=ready,
                    provisioning=members - ready,
                    **{str(name): value for name, value in stats.items()},
                )
            )
        return statuses
