"""Making objects exist, as a controller reconciles: create what is missing, accept what is
already there and ours, refuse what belongs to someone else."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kube import KubeApi, KubeError, Obj, PermanentError, TransientError, describe, owner_of
from kube.kinds import kind_of


@dataclass(frozen=True)
class Found:
    obj: Obj
    created: bool


class Reconciler:
    def __init__(self, kube: KubeApi, parallelism: int) -> None:
        self._kube = kube
        self._pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="kube")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def create_or_get(self, manifest: Obj) -> Found:
        """Create the object; if its name is taken, the object that is there."""
        try:
            return Found(self._kube.create(manifest), created=True)
        except PermanentError as error:
            if error.reason != "AlreadyExists":
                raise
        metadata = manifest["metadata"]
        existing = self._kube.read(kind_of(manifest), metadata["name"], metadata.get("namespace"))
        if existing is None:
            # Deleted between our create and our read: the next attempt creates it.
            raise TransientError(f"{describe(manifest)} was deleted while we created it")
        return Found(existing, created=False)

    def ensure(self, manifest: Obj, owner: str) -> Obj:
        """Make the object exist; one that exists already must belong to `owner`."""
        found = self.create_or_get(manifest)
        if not found.created and owner_of(found.obj) != owner:
            other = owner_of(found.obj)
            whose = f"lesson {other}" if other else "something not managed by lessonq"
            raise PermanentError(f"{describe(manifest)} already exists and belongs to {whose}")
        return found.obj

    def ensure_all(self, manifests: list[Obj], owner: str) -> list[Obj]:
        """`ensure` each manifest, in parallel; a permanent failure wins over a transient one."""
        futures = [self._pool.submit(self.ensure, manifest, owner) for manifest in manifests]
        results: list[Obj] = []
        errors: list[KubeError] = []
        for future in futures:
            try:
                results.append(future.result())
            except KubeError as error:
                errors.append(error)
        permanent = [e for e in errors if isinstance(e, PermanentError)]
        if errors:
            raise (permanent or errors)[0]
        return results
