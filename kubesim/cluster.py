"""The simulated cluster: store, API, controllers and the objects a fresh cluster has."""

from __future__ import annotations

import copy
import platform
from typing import Any

from kubesim import multus
from kubesim.api import Api
from kubesim.clock import Ids
from kubesim.config import FaultRule, SimConfig
from kubesim.crds import CrdController
from kubesim.events import EventRecorder
from kubesim.faults import Faults
from kubesim.gc import GarbageCollector
from kubesim.jobs import JobController
from kubesim.kubelet import Kubelet
from kubesim.linkagent import ApiStatusPatcher, LinkAgent
from kubesim.loop import Controller, Loop
from kubesim.namespaces import NamespaceController
from kubesim.node import node_object
from kubesim.openapi import OpenApi
from kubesim.resources import CRDS, NAMESPACES, NODES, RUNTIME_CLASSES, SERVICES, Registry
from kubesim.scheduler import Scheduler
from kubesim.schemas import SCHEMA_VERSION
from kubesim.stats import Stats
from kubesim.store import Store
from kubesim.validation import SchemaValidators

JSON = dict[str, Any]
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


def version_info() -> JSON:
    major, minor, patch = SCHEMA_VERSION.split(".")
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(int(minor) - 1),
        "gitVersion": f"v{major}.{minor}.{patch}",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": f"linux/{'arm64' if platform.machine() == 'aarch64' else 'amd64'}",
    }


class Cluster:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.ids = Ids(config.seed)
        self.store = Store(config.watch_window)
        self.registry = Registry()
        self.api = Api(self.store, self.registry, SchemaValidators(), self.ids)
        self.openapi = OpenApi(self.registry)
        self.stats = Stats()
        self.faults = Faults(config.faults, config.seed)
        self.loop = Loop()
        self.events = EventRecorder(self.api)
        self.crds = CrdController(self.api, self.registry)
        self.controllers: list[Controller] = [
            Scheduler(
                self.api,
                self.events,
                config.nodes,
                {node: config.allocatable_amounts(node) for node in config.nodes},
            ),
            Kubelet(config, self.api, self.events, self.loop, self.ids),
            LinkAgent(config, self.api, ApiStatusPatcher(self.api), self.events, self.loop),
            JobController(config, self.api, self.events, self.loop),
            NamespaceController(config, self.api, self.loop, self.registry),
            GarbageCollector(self.api, self.registry),
        ]
        self.store.add_listener(self.crds.register)
        self.store.add_listener(self.loop.notify)
        self.loop.subscribe(self.crds.on_change)
        for controller in self.controllers:
            self.loop.subscribe(controller.on_change)
        self.stopping = False
        self._bootstrap()

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.stopping = True
        self.loop.stop()
        self.store.clear()  # ends open watches

    def reset(self) -> None:
        """Back to a fresh cluster: objects, controller state, stats and faults. The controller
        loop is paused first, so no handler still at work on the old cluster writes to the new."""
        with self.loop.paused(), self.store.lock:
            self.loop.clear()
            self.store.clear()
            self.api.service_addresses.clear()
            self.registry.clear_custom()
            self.events.clear()
            for controller in self.controllers:
                controller.clear()
            self.stats.reset()
            self.faults.set(self.config.faults)
            self._bootstrap()

    def set_faults(self, rules: list[Any]) -> None:
        self.faults.set([FaultRule.model_validate(rule) for rule in rules])

    def stats_snapshot(self) -> JSON:
        return self.stats.snapshot(self.store.watch_count)

    def _bootstrap(self) -> None:
        for name in SYSTEM_NAMESPACES:
            self.api.create(NAMESPACES, "", {"metadata": {"name": name}})
        for node in self.config.nodes:
            index = self.config.nodes.index(node)
            version = version_info()["gitVersion"]
            resources = self.config.allocatable_of(node)
            self.api.create(NODES, "", node_object(node, index, version, self.ids, None, resources))
        for handler in self.config.runtime_classes:
            self.api.create(
                RUNTIME_CLASSES, "", {"metadata": {"name": handler}, "handler": handler}
            )
        if self.config.multus:
            self.api.create(CRDS, "", copy.deepcopy(multus.MULTUS_CRD))
        self.api.create(
            SERVICES,
            "default",
            {
                "metadata": {
                    "name": "kubernetes",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": "10.96.0.1",
                    "ports": [{"name": "https", "port": 443, "targetPort": 6443}],
                },
            },
        )

    def discovery(self, path: str, segments: list[str]) -> JSON | None:
        """Non-resource paths: version, discovery and OpenAPI."""
        if path == "/version":
            return version_info()
        if segments == ["api"]:
            return self.registry.api_versions()
        if segments == ["apis"]:
            return self.registry.api_group_list()
        if segments[:1] == ["openapi"]:
            return self.openapi.document(segments[1:])
        if len(segments) == 2 and segments[0] == "api":
            return self.registry.api_resource_list("", segments[1])
        if len(segments) == 2 and segments[0] == "apis":
            return self.registry.api_group(segments[1])
        if len(segments) == 3 and segments[0] == "apis":
            return self.registry.api_resource_list(segments[1], segments[2])
        return None
