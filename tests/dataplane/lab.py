"""A cluster node in network namespaces, wired from lessonq's own manifests.

One namespace is the node; each pod has its own. Every pod gets the cluster network (``eth0``,
from the bridge plugin on the node's ``cni0``, the node's address as gateway), then, for a
lesson pod, each entry of its ``k8s.v1.cni.cncf.io/networks`` annotation: the definition it
names (``network_manifests``), the interface and static addresses it asks for, through the
real bridge and static plugins (``cni.call``). Two sessions of the example ``snapshot-testing``
(a triangle of three vQFX, one link with a subnet) share the node, with a DNS pod and another
pod in kube-system and a pod in ``default`` beside them, as on a cluster.

The L2 links have no addresses from lessonq (the devices address them): the lab gives both
sessions the same ones (192.168.<link>.1 and .2), so a frame crossing between sessions would
find a wrong peer with the right address.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from config import load_settings
from lessons.curriculum import load_curriculum
from lessons.manifests import (
    NETWORKS_ANNOTATION,
    namespace_manifests,
    network_manifests,
    pod_manifests,
    policy_manifests,
)
from lessons.plan import LessonPlan, build_plan
from tests.dataplane import cni
from tests.dataplane.netns import Namespaces, Netns, run

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "curriculum"
SLUG = "snapshot-testing"
SESSIONS = ("s1", "s2")
CLUSTER_BRIDGE = "cni0"
NODE_ADDRESS = "10.244.0.1"
NAME_LABEL = "kubernetes.io/metadata.name"
# Pods beyond the lessons: (namespace, name, labels).
CLUSTER_PODS = [
    ("kube-system", "coredns", {"k8s-app": "kube-dns"}),
    ("kube-system", "metrics", {"k8s-app": "metrics-server"}),
    ("default", "web", {"app": "web"}),
]


def session_plans(lesson_prefix: str, **settings: Any) -> list[tuple[str, LessonPlan]]:
    """The example lesson's plan for each session (lesson ids `<prefix><n>`), as a lab wires
    them; `settings` on top of the lab's own."""
    curriculum = load_curriculum(EXAMPLES)
    config = load_settings(instance_id="dataplane", **settings)
    return [
        (
            session,
            build_plan(
                curriculum.lesson(SLUG),
                curriculum.images,
                lesson_id=f"{lesson_prefix}{number}",
                session_id=session,
                settings=config,
                files=curriculum.files[SLUG],
            ),
        )
        for number, session in enumerate(SESSIONS)
    ]


@dataclasses.dataclass(eq=False)
class Attachment:
    pod: Pod
    network: str
    interface: str
    config: dict[str, Any]
    ips: list[str]


@dataclasses.dataclass(eq=False)
class Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    netns: Netns
    address: str
    cluster_network: dict[str, Any] = dataclasses.field(default_factory=dict)
    attachments: list[Attachment] = dataclasses.field(default_factory=list)

    @property
    def container_id(self) -> str:
        return self.netns.name


@dataclasses.dataclass(eq=False)
class LessonLink:
    session: str
    network: str
    bridge: str
    ends: tuple[Attachment, Attachment]
    addresses: tuple[str, str]  # each end's IPv4 address, without the prefix length


class Lab:
    def __init__(self, spaces: Namespaces) -> None:
        self.spaces = spaces
        self.node = spaces.new("node")
        self.node.sysctl("net.ipv6.conf.default.accept_dad", "0")
        # Kubernetes nodes pass bridged frames through netfilter; so does this one.
        self.br_netfilter = self.node.sysctl("net.bridge.bridge-nf-call-iptables", "1")
        self.node.sysctl("net.bridge.bridge-nf-call-ip6tables", "1")
        self.plans: dict[str, LessonPlan] = {}
        self.namespaces: dict[str, dict[str, str]] = {
            name: {NAME_LABEL: name} for name in ("kube-system", "default")
        }
        self.pods: list[Pod] = []
        self.links: list[LessonLink] = []
        self._hosts = iter(range(10, 250))
        for session, plan in session_plans("dataplane"):
            self.plans[session] = plan
            self._wire(session, plan)
        for namespace, name, labels in CLUSTER_PODS:
            self._pod(name, namespace, labels)
        # A node has a default route (without one, it would not even answer ARP from a pod).
        self.node.ip("route", "add", "default", "via", "10.244.0.254", "dev", CLUSTER_BRIDGE)

    def _pod(self, name: str, namespace: str, labels: dict[str, str]) -> Pod:
        netns = self.spaces.new(f"p{len(self.pods)}")
        netns.sysctl("net.ipv6.conf.default.accept_dad", "0")
        pod = Pod(name, namespace, labels, netns, f"10.244.0.{next(self._hosts)}")
        config = {
            "cniVersion": "0.3.1",
            "name": "cluster",
            "type": "bridge",
            "bridge": CLUSTER_BRIDGE,
            "isGateway": True,
            "ipam": {
                "type": "static",
                "addresses": [{"address": f"{pod.address}/24", "gateway": NODE_ADDRESS}],
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        }
        self._call("ADD", pod, config, "eth0", None)
        pod.cluster_network = config
        self.pods.append(pod)
        return pod

    def _call(
        self, command: str, pod: Pod, config: dict[str, Any], interface: str, ips: list[str] | None
    ) -> None:
        cni.call(
            command,
            self.node,
            config,
            netns=pod.netns,
            container_id=pod.container_id,
            interface=interface,
            pod=(pod.namespace, pod.name),
            ips=ips,
        )

    def _wire(self, session: str, plan: LessonPlan) -> None:
        (namespace,) = namespace_manifests(plan)
        labels = namespace["metadata"]["labels"]
        self.namespaces[plan.namespace] = {**labels, NAME_LABEL: plan.namespace}
        definitions = {
            nad["metadata"]["name"]: json.loads(nad["spec"]["config"])
            for nad in network_manifests(plan)
        }
        by_network: dict[str, list[Attachment]] = {}
        for manifest in pod_manifests(plan):
            metadata = manifest["metadata"]
            pod = self._pod(metadata["name"], plan.namespace, metadata["labels"])
            networks = json.loads(metadata.get("annotations", {}).get(NETWORKS_ANNOTATION, "[]"))
            for element in networks:
                assert element["namespace"] == plan.namespace
                attachment = Attachment(
                    pod,
                    element["name"],
                    element["interface"],
                    definitions[element["name"]],
                    element.get("ips", []),
                )
                self._call("ADD", pod, attachment.config, attachment.interface, attachment.ips)
                pod.attachments.append(attachment)
                by_network.setdefault(attachment.network, []).append(attachment)
        for link in plan.links:
            ends = sorted(by_network[link.name], key=lambda a: a.pod.name != link.a)
            a, b = ends
            addresses = [address for end in ends for address in end.ips]
            if not addresses:
                addresses = [f"192.168.{link.index}.{host}/24" for host in (1, 2)]
                for end, address in zip(ends, addresses, strict=True):
                    end.pod.netns.ip("address", "add", address, "dev", end.interface)
            plain = (addresses[0].split("/")[0], addresses[1].split("/")[0])
            self.links.append(LessonLink(session, link.name, link.bridge, (a, b), plain))

    # --- reading the lab --------------------------------------------------------------------

    def pod(self, where: str, name: str) -> Pod:
        """Pod `name` of session `where`, or of namespace `where`."""
        namespace = self.plans[where].namespace if where in self.plans else where
        (pod,) = [p for p in self.pods if p.namespace == namespace and p.name == name]
        return pod

    def policy(self, session: str) -> dict[str, Any]:
        (policy,) = policy_manifests(self.plans[session])
        return policy

    def lesson_bridges(self) -> dict[str, dict[str, Any]]:
        return {
            name: link
            for name, link in self.node.links().items()
            if link.get("linkinfo", {}).get("info_kind") == "bridge" and name != CLUSTER_BRIDGE
        }

    def detach(self, pod: Pod, cluster_network: bool = True) -> None:
        """DEL every attachment of the pod, as when its sandbox goes (last first)."""
        for attachment in reversed(pod.attachments):
            self._call("DEL", pod, attachment.config, attachment.interface, attachment.ips)
        pod.attachments.clear()
        if cluster_network:
            self._call("DEL", pod, pod.cluster_network, "eth0", None)

    def agent(self, *options: str, command: str = "python") -> None:
        """One pass of the node agent on the lab's node (``--once``), as a process there, as
        the DaemonSet runs it on a node (fails the test when the pass reports errors);
        `command` "lessonq" runs it as ``lessonq node-agent``, the DaemonSet's command."""
        program = [sys.executable, "-m", "nodeagent"]
        if command == "lessonq":
            program = [str(Path(sys.executable).with_name("lessonq")), "node-agent"]
        agent = [*program, "--once", *options]
        run(["ip", "netns", "exec", self.node.name, "env", f"PYTHONPATH={REPO}", *agent])
