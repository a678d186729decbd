"""Kubernetes manifests of a lesson plan: pure functions from a LessonPlan to plain dicts.

No I/O here: the provisioning steps (``lessons.steps``) send these as they are, and the unit
tests check them against the upstream schemas.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any

from lessons.configuration import ConfigurationKind
from lessons.files import MOUNT_PATH, LessonFiles
from lessons.model import Flavor
from lessons.naming import (
    CONFIGURES,
    ENDPOINT,
    GENERATION,
    INSTANCE,
    LESSON_ID,
    SESSION_ANNOTATION,
    STAGE,
    config_job_name,
)
from lessons.plan import (
    ConfigurationPlan,
    EndpointPlan,
    GuidePlan,
    IngressPlan,
    LessonPlan,
    LinkPlan,
)

Manifest = dict[str, Any]

NAD_API_VERSION = "k8s.cni.cncf.io/v1"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
POLICY_NAME = "lessonq-isolation"
CNI_VERSION = "0.3.1"
# Seconds between readiness checks: Antidote polled every 2 s too.
PROBE_PERIOD = 2
FORWARDING_SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
FILES_NAME = "lesson-files"
CREDENTIALS_NAME = "lesson-credentials"
# The web pages' certificate, copied into the lesson's namespace (the step reads the original).
TLS_NAME = "presentation-tls"
# Antidote's configurator: ansible, napalm (/configure.py) and python.
CONFIGURE_BACKOFF_LIMIT = 3
_KEY_CHARACTERS = re.compile(r"[^-._a-zA-Z0-9]+")
# A lab device holds nothing worth a graceful stop, and the namespace controller waits out its
# pods' grace before a namespace goes: 5 s instead of the default 30 halves a real teardown.
STOP_GRACE_SECONDS = 5
# The node label a lesson's pods share (and avoid, when a node proved too small).
HOSTNAME = "kubernetes.io/hostname"
# Overlay links: a link's VNI on its NetworkAttachmentDefinition, and the readiness gate the
# node agent sets on a pod once every link of that pod on its node is wired.
VNI_ANNOTATION = "lessonq.io/vni"
LINKS_WIRED = "lessonq.io/links-wired"


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
                "annotations": session_annotations(plan),
            },
        }
    ]


def session_annotations(plan: LessonPlan) -> dict[str, str]:
    """The namespace's annotations: the session label may be shortened and hashed, this keeps
    the exact id (none for a pool lesson until a session claims it)."""
    return {} if plan.session_id is None else {SESSION_ANNOTATION: plan.session_id}


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
    if link.mtu is not None:
        # The bridge plugin sets it on the bridge and on both ends' veths.
        config["mtu"] = link.mtu
    return json.dumps(config, sort_keys=True)


def network_manifests(plan: LessonPlan, vnis: Sequence[int] = ()) -> list[Manifest]:
    """One NetworkAttachmentDefinition per link, each on its own bridge; on an overlay, each
    annotated with its link's VNI (by link), which the node agent reads to wire the link's
    bridges on different nodes together."""
    manifests = []
    for link in plan.links:
        metadata = _metadata(plan, link.name)
        if plan.overlay and vnis:
            metadata["annotations"] = {VNI_ANNOTATION: str(vnis[link.index])}
        manifests.append(
            {
                "apiVersion": NAD_API_VERSION,
                "kind": "NetworkAttachmentDefinition",
                "metadata": metadata,
                "spec": {"config": _cni_config(link)},
            }
        )
    return manifests


def _namespace_selector(name: str) -> Manifest:
    # The apiserver labels every namespace with its own name from v1.21 on; on older clusters
    # the operator labels the DNS namespace so (README).
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def policy_manifests(plan: LessonPlan) -> list[Manifest]:
    """Egress only inside the lesson's namespace, and DNS to the cluster's DNS pods alone (a
    server on port 53 anywhere else would be a way out); all egress with allowEgress."""
    dns = {
        **_namespace_selector(plan.dns_namespace),
        "podSelector": {"matchLabels": {**plan.dns_pod_label}},
    }
    egress: list[Manifest] = [
        # a pod selector alone means this namespace's pods, on every Kubernetes version
        {"to": [{"podSelector": {}}]},
        {
            "to": [dns],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
    ]
    if plan.allow_egress:
        egress = [{}]  # one rule that matches everything
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _metadata(plan, POLICY_NAME),
            "spec": {
                "podSelector": {},
                # Ingress is left open: learners reach their devices from outside.
                "policyTypes": ["Egress"],
                "egress": egress,
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
    if endpoint.requests:
        container["resources"] = {"requests": dict(endpoint.requests)}
    return container


def _file_key(index: int, path: str) -> str:
    """A ConfigMap key for a file (keys allow only [-._a-zA-Z0-9], up to 253): its index keeps
    keys apart, the rest keeps them readable."""
    return f"{index:04d}-{_KEY_CHARACTERS.sub('_', path)}"[:253]


def _files_volume(plan: LessonPlan) -> Manifest:
    """The ConfigMap as a volume: each key back at its path under /antidote."""
    items = [{"key": _file_key(i, path), "path": path} for i, path in enumerate(plan.file_paths)]
    return {"name": FILES_NAME, "configMap": {"name": FILES_NAME, "items": items}}


_FILES_MOUNT = {"name": FILES_NAME, "mountPath": MOUNT_PATH, "readOnly": True}


def files_manifests(plan: LessonPlan, files: LessonFiles | None) -> list[Manifest]:
    """The lesson's folder as a ConfigMap (text in data, the rest in binaryData), and the
    credentials the configuration Jobs log in to the devices with, as a Secret."""
    manifests: list[Manifest] = []
    if plan.files_version is not None:
        if files is None or files.version != plan.files_version:
            raise ValueError(f"the plan's files are version {plan.files_version}, not these")
        data: dict[str, str] = {}
        binary: dict[str, str] = {}
        for index, path in enumerate(plan.file_paths):
            key, content = _file_key(index, path), files.files[path]
            try:
                data[key] = content.decode("utf-8")
            except UnicodeDecodeError:
                binary[key] = base64.b64encode(content).decode()
        config_map: Manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(plan, FILES_NAME),
            "data": data,
        }
        if binary:
            config_map["binaryData"] = binary
        manifests.append(config_map)
    configured = plan.configured()
    if configured:
        secrets = {}
        for endpoint in configured:
            assert endpoint.configuration is not None
            secrets[f"{endpoint.name}.username"] = endpoint.configuration.user
            secrets[f"{endpoint.name}.password"] = endpoint.configuration.password
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _metadata(plan, CREDENTIALS_NAME),
                "type": "Opaque",
                "data": {key: base64.b64encode(v.encode()).decode() for key, v in secrets.items()},
            }
        )
    return manifests


def _pod_spec(plan: LessonPlan, container: Manifest, avoid: Sequence[str]) -> Manifest:
    """What every pod of the lesson has: its node (not one of `avoid`), no API credentials,
    and its files."""
    together = {INSTANCE: plan.instance_id, LESSON_ID: plan.lesson_id}
    term = {"labelSelector": {"matchLabels": together}, "topologyKey": HOSTNAME}
    # Bridges are node-local: every pod of the lesson must land on the same node; on an
    # overlay it should (a link within a node needs no tunnel), and may spill over when the
    # node cannot hold them all.
    together_on_a_node: Manifest = (
        {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": term}
            ]
        }
        if plan.overlay
        else {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    )
    affinity: Manifest = {"podAffinity": together_on_a_node}
    if avoid:
        # Nodes an earlier placement of the lesson found too small for all of its pods.
        term = {"key": HOSTNAME, "operator": "NotIn", "values": sorted(avoid)}
        affinity["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [term]}]
            }
        }
    spec: Manifest = {
        # Learners get a shell in these pods: no API credentials, no env of other services.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": STOP_GRACE_SECONDS,
        "affinity": affinity,
        "containers": [container],
    }
    _mount_files(plan, container, spec)
    return spec


def _mount_files(plan: LessonPlan, container: Manifest, spec: Manifest) -> None:
    """The lesson's folder, read-only at /antidote in the container, when it has one."""
    if plan.files_version is not None:
        container["volumeMounts"] = [_FILES_MOUNT]
        spec["volumes"] = [_files_volume(plan)]


def _pod(plan: LessonPlan, endpoint: EndpointPlan, avoid: Sequence[str]) -> Manifest:
    metadata = _metadata(plan, endpoint.name, plan.endpoint_labels(endpoint.name))
    if endpoint.attachments:
        metadata["annotations"] = {NETWORKS_ANNOTATION: _networks_annotation(plan, endpoint)}
    spec = {"hostname": endpoint.name, **_pod_spec(plan, _container(endpoint), avoid)}
    if plan.overlay and endpoint.attachments:
        # Ready only once the node agent has wired its links' tunnels (where they cross nodes).
        spec["readinessGates"] = [{"conditionType": LINKS_WIRED}]
    if endpoint.flavor is Flavor.UNTRUSTED and plan.runtime_class:
        spec["runtimeClassName"] = plan.runtime_class
    if endpoint.enable_forwarding:
        spec["securityContext"] = {
            "sysctls": [{"name": name, "value": "1"} for name in FORWARDING_SYSCTLS]
        }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _guide_pod(plan: LessonPlan, guide: GuidePlan, avoid: Sequence[str]) -> Manifest:
    """The notebook server over /antidote: an ordinary pod, no privileges, no token (open to
    whoever reaches it, as Antidote's guides were; the lesson's NetworkPolicy applies)."""
    container: Manifest = {
        "name": "jupyter",
        "image": guide.image,
        "args": [
            "jupyter",
            "lab",
            "--ip=0.0.0.0",
            f"--port={guide.port}",
            "--no-browser",
            f"--ServerApp.root_dir={MOUNT_PATH}",
            "--IdentityProvider.token=",
            # Behind an Ingress that terminates TLS: the scheme and host the browser used.
            "--ServerApp.trust_xheaders=True",
        ],
        "ports": [{"name": "http", "containerPort": guide.port, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/api", "port": guide.port},
            "periodSeconds": PROBE_PERIOD,
        },
        "securityContext": {"privileged": False, "allowPrivilegeEscalation": False},
    }
    metadata = _metadata(plan, guide.name, plan.guide_labels())
    # (With the lesson's labels, the guide shares the endpoints' node: their affinity would
    # follow it to another.)
    spec = {"hostname": guide.name, **_pod_spec(plan, container, avoid)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def pod_manifests(plan: LessonPlan, avoid: Sequence[str] = ()) -> list[Manifest]:
    """One pod per endpoint, named after it, and the Jupyter guide's; the lesson's folder at
    /antidote when it has one. None goes to a node of `avoid` (``lessons.placement``)."""
    guide = [_guide_pod(plan, plan.guide, avoid)] if plan.guide is not None else []
    return [_pod(plan, endpoint, avoid) for endpoint in plan.endpoints] + guide


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


def _guide_service(plan: LessonPlan, guide: GuidePlan) -> Manifest:
    port = {"name": "http", "port": guide.port, "targetPort": guide.port, "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(plan, guide.name),
        "spec": {"type": "ClusterIP", "selector": plan.guide_labels(), "ports": [port]},
    }


def service_manifests(plan: LessonPlan) -> list[Manifest]:
    """One ClusterIP Service per endpoint, named after it, and the Jupyter guide's."""
    guide = [_guide_service(plan, plan.guide)] if plan.guide is not None else []
    return [_service(plan, endpoint) for endpoint in plan.endpoints] + guide


def _ingress(plan: LessonPlan, ingress: IngressPlan) -> Manifest:
    backend = {"service": {"name": ingress.service, "port": {"number": ingress.port}}}
    spec: Manifest = {
        "rules": [
            {
                "host": ingress.host,
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
            }
        ]
    }
    if plan.ingress_class is not None:
        spec["ingressClassName"] = plan.ingress_class
    if plan.tls_secret is not None:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": TLS_NAME}]
    metadata = _metadata(plan, ingress.name)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }


def ingress_manifests(plan: LessonPlan) -> list[Manifest]:
    """An Ingress per web page (http presentations, the Jupyter guide), with a presentation
    domain; TLS with the certificate copied into the namespace (`tls_manifest`)."""
    return [_ingress(plan, ingress) for ingress in plan.ingresses()]


def tls_manifest(plan: LessonPlan, source: Manifest) -> Manifest:
    """The copy, in the lesson's namespace, of the operator's certificate Secret `source` (an
    Ingress names a Secret of its own namespace), as Antidote's syncSecret made it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(plan, TLS_NAME),
        "type": source.get("type") or "kubernetes.io/tls",
        "data": source.get("data") or {},
    }


def _configure_command(endpoint: str, configuration: ConfigurationPlan, stage: int) -> list[str]:
    """What Antidote's configurator runs for each kind. The credentials are `$(...)`
    references to the container's environment, which takes them from the Secret: they are
    never written into the Job."""
    file = configuration.stages[stage]
    path = f"{MOUNT_PATH}/{file.path}"
    if configuration.kind is ConfigurationKind.PYTHON:
        return ["python", path]
    if configuration.kind is ConfigurationKind.ANSIBLE:
        return ["ansible-playbook", "-i", f"{endpoint},", path]
    user, password = "$(ANTIDOTE_TARGET_USERNAME)", "$(ANTIDOTE_TARGET_PASSWORD)"
    driver, port = str(file.driver), str(configuration.port)
    return ["python", "/configure.py", user, password, driver, port, endpoint, path]


def _secret_env(name: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_NAME, "key": key}}}


def _configure_job(
    plan: LessonPlan, endpoint: EndpointPlan, stage: int, generation: int
) -> Manifest:
    assert endpoint.configuration is not None
    labels = {
        **plan.labels(),
        ENDPOINT: endpoint.name,
        CONFIGURES: endpoint.name,
        STAGE: str(stage),
        GENERATION: str(generation),
    }
    # The pod is not an endpoint of the lesson: without the lesson id and endpoint labels, the
    # pods' affinity and the readiness step's selector never take it for one.
    pod_labels = {k: v for k, v in labels.items() if k not in (LESSON_ID, ENDPOINT)}
    container: Manifest = {
        "name": "configure",
        "image": plan.configurator_image,
        "command": _configure_command(endpoint.name, endpoint.configuration, stage),
        "env": [
            {"name": "ANTIDOTE_TARGET_HOST", "value": endpoint.name},
            _secret_env("ANTIDOTE_TARGET_USERNAME", f"{endpoint.name}.username"),
            _secret_env("ANTIDOTE_TARGET_PASSWORD", f"{endpoint.name}.password"),
            {"name": "ANSIBLE_HOST_KEY_CHECKING", "value": "False"},
        ],
    }
    pod_spec: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": STOP_GRACE_SECONDS,
        "containers": [container],
    }
    _mount_files(plan, container, pod_spec)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(plan, config_job_name(endpoint.name, stage, generation), labels),
        "spec": {
            "backoffLimit": CONFIGURE_BACKOFF_LIMIT,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }


def configure_manifests(plan: LessonPlan, stage: int, generation: int) -> list[Manifest]:
    """One Job per configured endpoint, configuring it for `stage` (one `generation` of Jobs
    per stage change)."""
    return [_configure_job(plan, endpoint, stage, generation) for endpoint in plan.configured()]
