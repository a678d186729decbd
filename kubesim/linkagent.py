"""lessonq's node agent, simulated: on each node it wires the links of the lesson pods bound
there (VXLAN tunnels between the nodes a lesson spans), then sets their `lessonq.io/links-wired`
readiness gate through `pods/status`, as the real agent does with its own client; the kubelet
then works the pods' Ready condition out again.

Faults (SimConfig): `link_agent_down` nodes wire nothing, `link_agent_slow` adds time per node,
and a pod using a NetworkAttachmentDefinition annotated `lessonq.io/vni` with one of
`link_agent_refused_vnis` is never wired and gets a `LinksNotWired` Warning event."""

from __future__ import annotations

from typing import Any, Protocol

from kubesim import errors, multus
from kubesim.api import STRATEGIC_PATCH, Api, type_key
from kubesim.clock import timestamp
from kubesim.config import SimConfig
from kubesim.events import EventRecorder
from kubesim.loop import Loop
from kubesim.nodeapi import NodeApi
from kubesim.podstatus import condition_of
from kubesim.resources import PODS, ResourceType
from kubesim.store import Change

JSON = dict[str, Any]
GATE = "lessonq.io/links-wired"
VNI_ANNOTATION = "lessonq.io/vni"
COMPONENT = "lessonq-link-agent"
NAD_KEY = (multus.NAD_GROUP, multus.NAD_PLURAL)


class StatusPatcher(Protocol):
    def patch_status(self, rt: ResourceType, namespace: str, name: str, patch: JSON) -> None:
        """A strategic merge patch of the object's `status` subresource; nothing if it is gone."""


class ApiStatusPatcher:
    """`pods/status` on kubesim's own API: decoded, validated and stored as a client's patch."""

    def __init__(self, api: Api) -> None:
        self._api = api

    def patch_status(self, rt: ResourceType, namespace: str, name: str, patch: JSON) -> None:
        try:
            self._api.patch(rt, namespace, name, STRATEGIC_PATCH, patch, "status")
        except errors.ApiError as error:
            if error.code != 404:
                raise


def _running(pod: JSON) -> bool:
    """Every container of the pod runs."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return len(statuses) == len(pod["spec"].get("containers") or []) and all(
        "running" in (s.get("state") or {}) for s in statuses
    )


def gated(pod: JSON) -> bool:
    return any(g.get("conditionType") == GATE for g in pod["spec"].get("readinessGates") or [])


class LinkAgent:
    """One agent per configured node (all kept here), driven by the pods' changes."""

    def __init__(
        self,
        config: SimConfig,
        api: NodeApi,
        writer: StatusPatcher,
        events: EventRecorder,
        loop: Loop,
    ) -> None:
        self._config = config
        self._api = api
        self._writer = writer
        self._events = events
        self._loop = loop
        self._taken: set[str] = set()  # uids of the pods wired, being wired, or refused

    def clear(self) -> None:
        self._taken.clear()

    def on_change(self, change: Change) -> None:
        if change.type_key != type_key(PODS):
            return
        uid = change.obj["metadata"]["uid"]
        if change.type == "DELETED":
            self._taken.discard(uid)
            return
        if uid in self._taken or not gated(change.obj):
            return
        pod = self._current(change.obj["metadata"], uid)
        if pod is None or not _running(pod):
            return
        node = pod["spec"]["nodeName"]
        if node in self._config.link_agent_down:
            return  # its agent is not there to see the pod
        self._taken.add(uid)
        delay = self._config.link_agent_seconds + self._config.link_agent_slow.get(node, 0.0)
        meta = pod["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        self._loop.call_later(self._config.scaled(delay), lambda: self._wire(namespace, name, uid))

    def _current(self, meta: JSON, uid: str) -> JSON | None:
        """The pod as it now is, if it is still that one, bound to a node with an agent, not
        going, and not wired yet."""
        pod = self._api.store.get(type_key(PODS), meta["namespace"], meta["name"])
        if (
            pod is None
            or pod["metadata"]["uid"] != uid
            or pod["metadata"].get("deletionTimestamp")
            or pod["spec"].get("nodeName") not in self._config.nodes
        ):
            return None
        wired = condition_of(pod, GATE)
        return None if wired is not None and wired.get("status") == "True" else pod

    def _wire(self, namespace: str, name: str, uid: str) -> None:
        pod = self._current({"namespace": namespace, "name": name}, uid)
        if pod is None:
            return
        node = pod["spec"]["nodeName"]
        refused = self._refused(pod)
        if refused is not None:
            vni, network = refused
            message = (
                f"links not wired: VXLAN VNI {vni} of network {network} is refused on node {node}"
            )
            self._events.record(pod, "Warning", "LinksNotWired", message, COMPONENT, node)
            return
        condition = {
            "type": GATE,
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": timestamp(),
        }
        self._writer.patch_status(PODS, namespace, name, {"status": {"conditions": [condition]}})

    def _refused(self, pod: JSON) -> tuple[int, str] | None:
        """(VNI, namespace/name) of the first network the pod uses whose VNI is refused."""
        refused = self._config.link_agent_refused_vnis
        annotation = (pod["metadata"].get("annotations") or {}).get(multus.NETWORKS_ANNOTATION)
        if not refused or not annotation:
            return None
        try:
            selections = multus.parse_networks(annotation, pod["metadata"]["namespace"])
        except multus.SandboxError:
            return None  # the sandbox failed then: its containers never ran
        for selection in selections:
            definition = self._api.store.get(NAD_KEY, selection.namespace, selection.name)
            annotations = ((definition or {}).get("metadata") or {}).get("annotations") or {}
            try:
                vni = int(str(annotations.get(VNI_ANNOTATION, "")).strip())
            except ValueError:
                continue
            if vni in refused:
                return vni, f"{selection.namespace}/{selection.name}"
        return None
