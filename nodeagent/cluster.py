"""The node agent's side of the cluster (overlay links): what it reads, and the gate it sets.

Each pass reads the lesson pods and overlay NetworkAttachmentDefinitions (by lessonq's managed
label, every namespace: a link's peers are where its other pods are) and the nodes' addresses,
works out this node's tunnels (``nodeagent.links``), and, once the host has them, sets the
`lessonq.io/links-wired` condition of each pod here whose every link is wired, through the
pods/status subresource. Only what deploy/node-agent.yaml's ClusterRole grants: list pods,
network-attachment-definitions and nodes, patch pods/status.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection

from kube import KubeApi, KubeError
from kube.kinds import NETWORK_ATTACHMENT_DEFINITION, NODE, POD
from lessons.manifests import LINKS_WIRED
from lessons.naming import MANAGED
from nodeagent.links import Key, Wanted, internal_ips, wanted

SELECTOR = f"{MANAGED}=true"


class ClusterLinks:
    """The cluster as the node agent's pass reads it; LookupError when it cannot be read."""

    def __init__(self, kube: KubeApi, node: str) -> None:
        self._kube = kube
        self.node = node

    def read(self) -> Wanted:
        """This node's tunnels and gated pods, as the cluster is now. LookupError when the API
        cannot be read or the node has no InternalIP (yet)."""
        try:
            pods = self._kube.listing(POD, None, SELECTOR).items
            nads = self._kube.listing(NETWORK_ATTACHMENT_DEFINITION, None, SELECTOR).items
            addresses = internal_ips(self._kube.listing(NODE, None, "").items)
        except KubeError as error:
            raise LookupError(f"the cluster cannot be read: {error.message}") from None
        if self.node not in addresses:
            raise LookupError(f"node {self.node} has no InternalIP")
        return wanted(self.node, addresses[self.node], pods, nads, addresses)

    def mark_wired(self, found: Wanted, waiting: Collection[str]) -> list[Key]:
        """Set the gate of the pods whose links are all wired (`Wanted.wired`); the pods it
        set. LookupError when the API refuses."""
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        condition = {"type": LINKS_WIRED, "status": "True", "lastTransitionTime": now}
        marked = []
        for namespace, name in found.wired(waiting):
            try:
                if self._kube.patch_status(POD, name, {"conditions": [condition]}, namespace):
                    marked.append((namespace, name))
            except KubeError as error:
                raise LookupError(f"pod {namespace}/{name}: {error.message}") from None
        return marked
