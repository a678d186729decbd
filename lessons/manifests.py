"""Kubernetes manifests of a lesson plan: pure functions from a LessonPlan to plain dicts.

No I/O here: the provisioning steps (``lessons.steps``) send these as they are, and the unit
tests check them against the upstream schemas.
"""

from __future__ import annotations

import json
from typing import Any

from lessons.model import Flavor
from lessons.naming import INSTANCE, LESSON_ID, SESSION_ANNOTATION
from lessons.plan import EndpointPlan, LessonPlan, LinkPlan

Manifest = dict[str, Any]

NAD_API_VERSION = "k8s.cni.cncf.io/v1"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
POLICY_NAME = "lessonq-isolation"
CNI_VERSION = "0.3.1"
# Seconds between readiness checks: Antidote polled every 2 s too.
PROBE_PERIOD = 2
FORWARDING_SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


def _metadata(plan: LessonPlan, name: str, labels: dict[str, str] | None = None) -> Manifest:
    return {"name": name, "namespace": plan.namespace, "labels": labels or plan.labels()}


def namespace_manifests(plan: LessonPlan) -> list[Manifest]:
    """The lesson's namespace."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": plan.namespace,
                "labels": plan.labels(),
                # The session label may be shortened and hashed; this keeps the exact id.
                "annotations": {SESSION_ANNOTATION: plan.session_id},
            },
        }
    ]


def _cni_config(link: LinkPlan) -> str:
    config: dict[str, Any] = {
        "cniVersion": CNI_VERSION,
        "name": link.bridge,
        "type": "bridge",
        "bridge": link.bridge,
        "ipam": {},  # Plain L2: the lesson's devices address the link themselves.
    }
    if link.subnet is not None:
        # Static IPAM takes each end's address from the pod's networks annotation ("ips").
        config["ipam"] = {"type": "static"}
        config["capabilities"] = {"ips": True}
    return json.dumps(config, sort_keys=True)


def network_manifests(plan: LessonPlan) -> list[Manifest]:
    """One NetworkAttachmentDefinition per link, each on its own bridge."""
    return [
        {
            "apiVersion": NAD_API_VERSION,
            "kind": "NetworkAttachmentDefinition",
            "metadata": _metadata(plan, link.name),
            "spec": {"config": _cni_config(link)},
        }
        for link in plan.links
    ]


def policy_manifests(plan: LessonPlan) -> list[Manifest]:
    """Egress only inside the lesson's namespace, plus DNS anywhere so names still resolve."""
    own_namespace = {"kubernetes.io/metadata.name": plan.namespace}
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _metadata(plan, POLICY_NAME),
            "spec": {
                "podSelector": {},
                # Ingress is left open: learners reach their devices from outside.
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"namespaceSelector": {"matchLabels": own_namespace}}]},
                    {
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ]
                    },
                ],
            },
        }
    ]


def _networks_annotation(plan: LessonPlan, endpoint: EndpointPlan) -> str:
    networks = []
    for attachment in endpoint.attachments:
        network: dict[str, Any] = {
            "name": attachment.link,
            "namespace": plan.namespace,
            "interface": attachment.interface,
        }
        if attachment.address is not None:
            network["ips"] = [attachment.address]
        networks.append(network)
    return json.dumps(networks)


def _container_security(endpoint: EndpointPlan) -> Manifest:
    # Every flavor needs NET_ADMIN to configure its lesson links; only trusted images (network
    # OS VMs) run privileged.
    return {
        "privileged": endpoint.flavor is Flavor.TRUSTED,
        "capabilities": {"add": ["NET_ADMIN"]},
    }


def _container(endpoint: EndpointPlan) -> Manifest:
    container: Manifest = {
        "name": endpoint.name,
        "image": endpoint.image,
        "securityContext": _container_security(endpoint),
    }
    if endpoint.ports:
        container["ports"] = [
            {"name": port.name, "containerPort": port.port, "protocol": "TCP"}
            for port in endpoint.ports
        ]
    if endpoint.probe_port is not None:
        container["readinessProbe"] = {
            "tcpSocket": {"port": endpoint.probe_port},
            "periodSeconds": PROBE_PERIOD,
        }
    return container


def _pod(plan: LessonPlan, endpoint: EndpointPlan) -> Manifest:
    metadata = _metadata(plan, endpoint.name, plan.endpoint_labels(endpoint.name))
    if endpoint.attachments:
        metadata["annotations"] = {NETWORKS_ANNOTATION: _networks_annotation(plan, endpoint)}
    # Bridges are node-local: every pod of the lesson must land on the same node.
    together = {INSTANCE: plan.instance_id, LESSON_ID: plan.lesson_id}
    spec: Manifest = {
        "hostname": endpoint.name,
        # Learners get a shell in these pods: no API credentials, no env of other services.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "affinity": {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": together},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        },
        "containers": [_container(endpoint)],
    }
    if endpoint.flavor is Flavor.UNTRUSTED and plan.runtime_class:
        spec["runtimeClassName"] = plan.runtime_class
    if endpoint.enable_forwarding:
        spec["securityContext"] = {
            "sysctls": [{"name": name, "value": "1"} for name in FORWARDING_SYSCTLS]
        }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def pod_manifests(plan: LessonPlan) -> list[Manifest]:
    """One pod per endpoint, named after it."""
    return [_pod(plan, endpoint) for endpoint in plan.endpoints]


def _service(plan: LessonPlan, endpoint: EndpointPlan) -> Manifest:
    spec: Manifest = {"type": "ClusterIP", "selector": plan.endpoint_labels(endpoint.name)}
    if endpoint.ports:
        spec["ports"] = [
            {"name": port.name, "port": port.port, "targetPort": port.port, "protocol": "TCP"}
            for port in endpoint.ports
        ]
    else:
        # Nothing to proxy, but the endpoint's name should still resolve to its pod: headless.
        spec["clusterIP"] = "None"
    metadata = _metadata(plan, endpoint.name)
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def service_manifests(plan: LessonPlan) -> list[Manifest]:
    """One ClusterIP Service per endpoint, named after it."""
    return [_service(plan, endpoint) for endpoint in plan.endpoints]
