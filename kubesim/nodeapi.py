"""What a kubelet (and its event recorder) reads and writes: kubesim's own store and Api in the
simulated cluster, or `nodes.Mirror` on a real control plane."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from kubesim.clock import Ids
from kubesim.resources import ResourceType
from kubesim.store import TypeKey

JSON = dict[str, Any]


class Objects(Protocol):
    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def get(self, type_key: TypeKey, namespace: str, name: str) -> JSON | None: ...

    def put(self, type_key: TypeKey, obj: JSON) -> object: ...


class NodeApi(Protocol):
    @property
    def store(self) -> Objects: ...

    @property
    def ids(self) -> Ids: ...

    def mutate(
        self, rt: ResourceType, namespace: str, name: str, change: Callable[[JSON], None]
    ) -> JSON | None: ...
