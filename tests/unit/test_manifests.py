"""Plans and manifests: upstream schemas in strict mode, and the shape each object must have."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from config import Settings, load_settings
from lessons.curriculum import Curriculum, load_curriculum, parse_lesson
from lessons.manifests import (
    NETWORKS_ANNOTATION,
    namespace_manifests,
    network_manifests,
    pod_manifests,
    policy_manifests,
    service_manifests,
)
from lessons.model import Flavor, Image
from lessons.naming import (
    CONFIGURES,
    ENDPOINT,
    GENERATION,
    GUIDE_NAME,
    INSTANCE,
    LESSON,
    LESSON_ID,
    MANAGED,
    SESSION,
    SESSION_ANNOTATION,
    STAGE,
    is_dns1123_label,
    is_port_name,
)
from lessons.plan import LessonPlan, TotalRequests, build_plan, total_requests
from lessons.steps import Desired, all_manifests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "curriculum"
KUBE_VERSION = latest_version()
LESSON_ID_VALUE = "0123456789abcdef0123456789abcdef"
SESSION_ID = "-Learner_42"  # Not a valid label value as it is: the label gets a hashed form.


@pytest.fixture(scope="module")
def curriculum() -> Curriculum:
    return load_curriculum(EXAMPLES)


@pytest.fixture(scope="module")
def config() -> Settings:
    return load_settings(
        instance_id="unit",
        image_registry="registry.example.com/labs",
        image_tag="2024.1",
        untrusted_runtime_class="kata",
    )


def _plan(curriculum: Curriculum, slug: str, config: Settings) -> LessonPlan:
    return build_plan(
        curriculum.lesson(slug),
        curriculum.images,
        lesson_id=LESSON_ID_VALUE,
        session_id=SESSION_ID,
        settings=config,
        files=curriculum.files[slug],
    )


def _all(plan: LessonPlan, curriculum: Curriculum) -> list[dict[str, Any]]:
    """Everything the steps create for the plan, its lesson's files and stage 0 included."""
    files = curriculum.files.get(plan.slug)
    return all_manifests(Desired(plan, files=lambda: files))


@pytest.fixture(scope="module")
def plans(curriculum: Curriculum, config: Settings) -> dict[str, LessonPlan]:
    return {slug: _plan(curriculum, slug, config) for slug in curriculum.lessons}


def _by_name(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests}


# --- schemas ------------------------------------------------------------------------------


def test_every_manifest_of_every_example_is_valid(
    plans: dict[str, LessonPlan], curriculum: Curriculum
) -> None:
    checked = 0
    for plan in plans.values():
        for manifest in _all(plan, curriculum):
            if manifest["kind"] == "NetworkAttachmentDefinition":
                _check_nad(manifest)
            else:
                kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
            checked += 1
    assert checked > 30


def _check_nad(manifest: dict[str, Any]) -> None:
    """The Multus CRD: k8s.cni.cncf.io/v1, namespaced, spec.config a JSON string of a CNI conf."""
    assert manifest["apiVersion"] == "k8s.cni.cncf.io/v1"
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(manifest["spec"]) == {"config"}
    assert set(manifest["metadata"]) == {"name", "namespace", "labels"}
    name = manifest["metadata"]["name"]
    assert len(name) <= 253 and all(is_dns1123_label(part) for part in name.split("."))
    config = json.loads(manifest["spec"]["config"])
    assert config["cniVersion"] == "0.3.1"
    assert config["type"] == "bridge"
    assert config["name"] == config["bridge"]
    assert 1 <= len(config["bridge"]) <= 15


def test_plans_are_json_round_trips(plans: dict[str, LessonPlan]) -> None:
    for plan in plans.values():
        assert LessonPlan.model_validate_json(plan.model_dump_json()) == plan


def test_the_whole_plan_is_deterministic(curriculum: Curriculum, config: Settings) -> None:
    first = _all(_plan(curriculum, "bgp-spine-leaf", config), curriculum)
    assert first == _all(_plan(curriculum, "bgp-spine-leaf", config), curriculum)


# --- labels, order, namespace -------------------------------------------------------------


def test_every_object_carries_the_lessons_labels(
    plans: dict[str, LessonPlan], curriculum: Curriculum
) -> None:
    # (Their order is the pipeline's: tests/unit/test_pipeline.py.)
    plan = plans["snapshot-testing"]
    manifests = _all(plan, curriculum)
    expected = {
        MANAGED: "true",
        INSTANCE: "unit",
        LESSON: "snapshot-testing",
        SESSION: plan.labels()[SESSION],
        LESSON_ID: LESSON_ID_VALUE,
    }
    for manifest in manifests:
        labels = manifest["metadata"]["labels"]
        if manifest["kind"] == "Pod":
            assert labels == {**expected, ENDPOINT: manifest["metadata"]["name"]}
        elif manifest["kind"] == "Job":
            endpoint = manifest["metadata"]["name"].split("-")[1]
            assert labels == {
                **expected,
                ENDPOINT: endpoint,
                CONFIGURES: endpoint,
                STAGE: "0",
                GENERATION: "0",
            }
        else:
            assert labels == expected
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == plan.namespace


def test_the_namespace_keeps_the_exact_session_id(plans: dict[str, LessonPlan]) -> None:
    plan = plans["linux-basics"]
    (namespace,) = namespace_manifests(plan)
    assert namespace["metadata"]["name"] == plan.namespace
    assert namespace["metadata"]["annotations"] == {SESSION_ANNOTATION: SESSION_ID}
    assert namespace["metadata"]["labels"][SESSION] != SESSION_ID  # hashed: not a valid label
    assert plan.namespace.startswith("linux-basics-learner-42-")


# --- networks -----------------------------------------------------------------------------


def test_one_bridge_per_link_l2_or_addressed(plans: dict[str, LessonPlan]) -> None:
    nads = network_manifests(plans["snapshot-testing"])
    configs = [json.loads(nad["spec"]["config"]) for nad in nads]
    assert [nad["metadata"]["name"] for nad in nads] == [
        "link-0-vqfx1-vqfx2",
        "link-1-vqfx2-vqfx3",
        "link-2-vqfx3-vqfx1",
    ]
    assert len({c["bridge"] for c in configs}) == 3
    assert configs[0]["ipam"] == {"type": "static"}
    assert configs[0]["capabilities"] == {"ips": True}
    assert configs[1]["ipam"] == {} and "capabilities" not in configs[1]


def test_bridges_differ_between_sessions(curriculum: Curriculum, config: Settings) -> None:
    lesson = curriculum.lesson("bgp-spine-leaf")
    bridges = [
        link.bridge
        for session in ("s1", "s2", "S1")
        for link in build_plan(
            lesson,
            curriculum.images,
            lesson_id="x",
            session_id=session,
            settings=config,
            files=curriculum.files["bgp-spine-leaf"],
        ).links
    ]
    assert len(set(bridges)) == len(bridges) == 27


def test_attachments_follow_interfaces_and_addresses(plans: dict[str, LessonPlan]) -> None:
    pods = _by_name(pod_manifests(plans["snapshot-testing"]))
    namespace = plans["snapshot-testing"].namespace
    networks = {
        name: json.loads(pod["metadata"]["annotations"][NETWORKS_ANNOTATION])
        for name, pod in pods.items()
        if "annotations" in pod["metadata"]
    }
    assert "linux1" not in networks  # No links, no Multus annotation.
    assert networks["vqfx1"] == [
        {
            "name": "link-0-vqfx1-vqfx2",
            "namespace": namespace,
            "interface": "em3",
            "ips": ["10.12.0.1/24"],
        },
        {"name": "link-2-vqfx3-vqfx1", "namespace": namespace, "interface": "em4"},
    ]
    assert networks["vqfx2"][0]["ips"] == ["10.12.0.2/24"]
    assert [n["interface"] for n in networks["vqfx3"]] == ["em3", "em4"]


def test_fabric_interfaces_and_point_to_point_addresses(plans: dict[str, LessonPlan]) -> None:
    plan = plans["bgp-spine-leaf"]
    leaf1 = plan.endpoint("leaf1")
    assert [(a.interface, a.address) for a in leaf1.attachments] == [
        ("swp1", "10.1.0.1/31"),
        ("swp2", "10.2.0.1/31"),
        ("swp3", None),
    ]
    server1 = plan.endpoint("server1")
    assert [(a.interface, a.address) for a in server1.attachments] == [("net1", None)]


def test_images_without_interface_lists_get_net_names(config: Settings) -> None:
    hosts = [{"name": f"h{n}", "image": "docker.io/library/alpine:3.20"} for n in range(4)]
    lesson = parse_lesson(
        {
            "name": "Star",
            "slug": "star",
            "endpoints": hosts,
            "connections": [{"a": "h0", "b": "h1"}, {"a": "h2", "b": "h0"}, {"a": "h0", "b": "h3"}],
        },
        "<test>",
        {},
    )
    plan = build_plan(lesson, {}, lesson_id="x", session_id="s", settings=config)
    assert [a.interface for a in plan.endpoint("h0").attachments] == ["net1", "net2", "net3"]
    assert plan.endpoint("h0").image == "docker.io/library/alpine:3.20"
    assert plan.endpoint("h0").flavor is Flavor.UNTRUSTED


def test_an_images_requests_reach_its_endpoints_pods(config: Settings) -> None:
    images = {
        "router": Image.model_validate(
            {"slug": "router", "requests": {"cpu": "500m", "memory": "1Gi"}}
        ),
        "host": Image.model_validate({"slug": "host", "requests": {"cpu": 0.25}}),
        "plain": Image.model_validate({"slug": "plain"}),
    }
    endpoints = [
        {"name": "r1", "image": "router"},
        {"name": "r2", "image": "router"},
        {"name": "h1", "image": "host"},
        {"name": "p1", "image": "plain"},
        {"name": "x1", "image": "docker.io/library/alpine:3.20"},
    ]
    lesson = parse_lesson({"name": "Req", "slug": "req", "endpoints": endpoints}, "<test>", images)
    plan = build_plan(lesson, images, lesson_id="x", session_id="s", settings=config)
    assert plan.endpoint("r1").requests == {"cpu": "500m", "memory": "1Gi"}
    assert plan.endpoint("h1").requests == {"cpu": "0.25"}
    assert plan.endpoint("p1").requests == plan.endpoint("x1").requests == {}
    pods = _by_name(pod_manifests(plan))
    for pod in pods.values():
        kubernetes_validate.validate(pod, KUBE_VERSION, strict=True)
    assert pods["r2"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"}
    }
    assert "resources" not in pods["p1"]["spec"]["containers"][0]
    assert total_requests(plan) == TotalRequests(
        cpu_millicores=500 + 500 + 250, memory_bytes=2 * 2**30, pods=5
    )
    assert LessonPlan.model_validate_json(plan.model_dump_json()) == plan


def test_a_lesson_without_requests_asks_for_its_pods_only(plans: dict[str, LessonPlan]) -> None:
    plan = plans["bgp-spine-leaf"]  # a Jupyter guide: one pod more than its endpoints
    assert total_requests(plan) == TotalRequests(0, 0, len(plan.endpoints) + 1)


# --- policy -------------------------------------------------------------------------------


def test_policy_allows_own_namespace_and_dns_only(plans: dict[str, LessonPlan]) -> None:
    plan = plans["linux-basics"]
    [policy] = policy_manifests(plan)
    assert policy["metadata"]["name"] == "lessonq-isolation"
    spec = policy["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Egress"]
    assert "ingress" not in spec
    own, dns = spec["egress"]
    # A pod selector alone: the pods of the policy's own namespace, on every Kubernetes version
    # (the namespace name label only exists from v1.21 on).
    assert own == {"to": [{"podSelector": {}}]}
    # DNS to the cluster's DNS pods only: a server on port 53 anywhere else is not reachable.
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert sorted((p["protocol"], p["port"]) for p in dns["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_the_cluster_dns_and_a_lessons_egress_are_the_operators_and_the_authors(
    curriculum: Curriculum,
) -> None:
    settings = load_settings(dns_namespace="dns", dns_pod_label="app=coredns", link_mtu=9000)
    lesson = curriculum.lesson("linux-basics")
    plan = build_plan(lesson, curriculum.images, lesson_id="x", session_id="s", settings=settings)
    [policy] = policy_manifests(plan)
    [_, dns] = policy["spec"]["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"app": "coredns"}}
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "dns"
    }
    # allowEgress (Antidote's knob) drops the restriction, unless the operator forbids it.
    open_lesson = lesson.model_copy(update={"allow_egress": True})
    plan = build_plan(
        open_lesson, curriculum.images, lesson_id="x", session_id="s", settings=settings
    )
    [policy] = policy_manifests(plan)
    assert policy["spec"]["egress"] == [{}] and policy["spec"]["policyTypes"] == ["Egress"]
    kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)
    strict = load_settings(allow_lesson_egress=False)
    with pytest.raises(ValueError, match=r"allowEgress: .*LESSONQ_ALLOW_LESSON_EGRESS=false"):
        build_plan(open_lesson, curriculum.images, lesson_id="x", session_id="s", settings=strict)


def test_links_carry_their_mtu_or_the_default_into_the_bridge_config(
    curriculum: Curriculum,
) -> None:
    lesson = curriculum.lesson("snapshot-testing")
    jumbo = lesson.model_copy(
        update={
            "connections": [
                lesson.connections[0].model_copy(update={"mtu": 9000}),
                *lesson.connections[1:],
            ]
        }
    )
    settings = load_settings(link_mtu=1450)
    plan = build_plan(
        jumbo,
        curriculum.images,
        lesson_id="x",
        session_id="s",
        settings=settings,
        files=curriculum.files["snapshot-testing"],
    )
    configs = [json.loads(nad["spec"]["config"]) for nad in network_manifests(plan)]
    assert [config.get("mtu") for config in configs] == [9000, 1450, 1450]
    plan = build_plan(
        lesson,
        curriculum.images,
        lesson_id="x",
        session_id="s",
        settings=load_settings(),
        files=curriculum.files["snapshot-testing"],
    )
    assert all("mtu" not in json.loads(nad["spec"]["config"]) for nad in network_manifests(plan))


# --- pods ---------------------------------------------------------------------------------


def test_pods_stay_together_and_expose_nothing_extra(plans: dict[str, LessonPlan]) -> None:
    plan = plans["bgp-spine-leaf"]
    pods = pod_manifests(plan)
    assert len(pods) == 9  # eight endpoints, and the Jupyter guide (its own test below)
    for pod in pods:
        name, spec = pod["metadata"]["name"], pod["spec"]
        assert spec["hostname"] == name
        assert spec["containers"][0]["name"] == (name if name != GUIDE_NAME else "jupyter")
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        assert spec["terminationGracePeriodSeconds"] == 5  # not 30: teardown waits it out
        [term] = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"] == {
            "matchLabels": {INSTANCE: "unit", LESSON_ID: LESSON_ID_VALUE}
        }
        # The pod matches its own term, so the first pod of the lesson can be scheduled.
        assert term["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_ports_and_readiness_probe(plans: dict[str, LessonPlan]) -> None:
    pods = _by_name(pod_manifests(plans["snapshot-testing"]))
    container = pods["vqfx1"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/labs/vqfx:2024.1"
    assert container["ports"] == [
        {"name": "cli", "containerPort": 22, "protocol": "TCP"},
        {"name": "port-830", "containerPort": 830, "protocol": "TCP"},
    ]
    assert container["readinessProbe"] == {"tcpSocket": {"port": 22}, "periodSeconds": 2}


def test_probe_falls_back_to_additional_ports_then_none(
    config: Settings, curriculum: Curriculum
) -> None:
    endpoints = [
        {"name": "api", "image": "a/b", "additionalPorts": [8443, 9090]},
        {"name": "quiet", "image": "a/b"},
        {
            "name": "both",
            "image": "a/b",
            "additionalPorts": [22, 80],
            "presentations": [
                {"name": "Web UI", "port": 80, "type": "http"},
                {"name": "cli", "port": 22, "type": "ssh"},
                {"name": "port-443", "port": 8080, "type": "http"},
                {"name": "x", "port": 443, "type": "http"},
            ],
        },
    ]
    lesson = parse_lesson({"name": "P", "slug": "p", "endpoints": endpoints}, "<test>", {})
    plan = build_plan(lesson, {}, lesson_id="x", session_id="s", settings=config)
    assert plan.files_version is None  # an inline lesson has no folder: nothing at /antidote
    assert plan.endpoint("api").probe_port == 8443
    assert plan.endpoint("quiet").probe_port is None
    both = plan.endpoint("both")
    assert both.probe_port == 80
    # De-duplicated, presentations first; a name that cannot name a port becomes port-<n>.
    assert [(p.name, p.port) for p in both.ports] == [
        ("port-80", 80),
        ("cli", 22),
        ("port-443", 8080),
        ("x", 443),
    ]
    assert all(is_port_name(p.name) for p in both.ports)
    pods = _by_name(pod_manifests(plan))
    assert "readinessProbe" not in pods["quiet"]["spec"]["containers"][0]
    assert "ports" not in pods["quiet"]["spec"]["containers"][0]
    services = _by_name(service_manifests(plan))
    assert services["quiet"]["spec"]["clusterIP"] == "None"
    assert "ports" not in services["quiet"]["spec"]
    assert "clusterIP" not in services["api"]["spec"]
    for manifest in _all(plan, curriculum):
        kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)


def test_port_name_collisions_get_numbered_names(config: Settings) -> None:
    presentations = [{"name": "port-23", "port": 2222, "type": "ssh"}]
    lesson = parse_lesson(
        {
            "name": "P",
            "slug": "p",
            "endpoints": [
                {
                    "name": "box",
                    "image": "a/b",
                    "presentations": presentations,
                    "additionalPorts": [23],
                }
            ],
        },
        "<test>",
        {},
    )
    endpoint = build_plan(lesson, {}, lesson_id="x", session_id="s", settings=config).endpoints[0]
    assert [(p.name, p.port) for p in endpoint.ports] == [("port-23", 2222), ("port-23-2", 23)]


def _security(plan: LessonPlan, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = _by_name(pod_manifests(plan))[name]
    return pod["spec"], pod["spec"]["containers"][0]["securityContext"]


def test_security_context_by_flavor(plans: dict[str, LessonPlan]) -> None:
    spec, trusted = _security(plans["snapshot-testing"], "vqfx1")  # vqfx: trusted
    assert trusted == {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}}
    assert "runtimeClassName" not in spec
    spec, legacy = _security(plans["snapshot-testing"], "linux1")  # utility: legacy
    assert legacy == {"privileged": False, "capabilities": {"add": ["NET_ADMIN"]}}
    assert "runtimeClassName" not in spec
    spec, untrusted = _security(plans["bgp-spine-leaf"], "spine1")  # frr: untrusted
    assert untrusted == {"privileged": False, "capabilities": {"add": ["NET_ADMIN"]}}
    assert spec["runtimeClassName"] == "kata"


def test_no_runtime_class_when_the_setting_is_empty(curriculum: Curriculum) -> None:
    config = load_settings(untrusted_runtime_class=None)
    plan = _plan(curriculum, "bgp-spine-leaf", config)
    spec, _ = _security(plan, "spine1")
    assert "runtimeClassName" not in spec


def test_forwarding_sysctls(plans: dict[str, LessonPlan]) -> None:
    spec, _ = _security(plans["snapshot-testing"], "vqfx1")
    assert spec["securityContext"] == {
        "sysctls": [
            {"name": "net.ipv4.ip_forward", "value": "1"},
            {"name": "net.ipv6.conf.all.forwarding", "value": "1"},
        ]
    }
    spec, _ = _security(plans["snapshot-testing"], "linux1")
    assert "securityContext" not in spec


# --- services -----------------------------------------------------------------------------


def test_one_service_per_endpoint(plans: dict[str, LessonPlan]) -> None:
    plan = plans["bgp-spine-leaf"]
    services = _by_name(service_manifests(plan))
    assert set(services) == {e.name for e in plan.endpoints} | {GUIDE_NAME}
    server1 = services["server1"]["spec"]
    assert server1["type"] == "ClusterIP"
    assert server1["selector"] == plan.endpoint_labels("server1")
    assert [(p["name"], p["port"], p["targetPort"]) for p in server1["ports"]] == [
        ("cli", 22, 22),
        ("web", 8080, 8080),
    ]


# --- refusals -----------------------------------------------------------------------------


def test_build_plan_refuses_bad_ids(curriculum: Curriculum, config: Settings) -> None:
    lesson = curriculum.lesson("linux-basics")
    with pytest.raises(ValueError, match="session_id"):
        build_plan(lesson, curriculum.images, lesson_id="x", session_id="a b", settings=config)
    with pytest.raises(ValueError, match="lesson_id"):
        build_plan(lesson, curriculum.images, lesson_id="-x", session_id="s", settings=config)
    with pytest.raises(ValueError, match="unknown image 'utility'"):
        build_plan(lesson, {}, lesson_id="x", session_id="s", settings=config)


# --- overlay links ----------------------------------------------------------------------------


def test_on_an_overlay_pods_prefer_one_node_and_linked_ones_wait_for_their_tunnels(
    curriculum: Curriculum, config: Settings
) -> None:
    overlay = config.model_copy(update={"links": "overlay", "overlay_mtu": 1450})
    plan = _plan(curriculum, "bgp-spine-leaf", overlay)
    vnis = [5000 + link.index for link in plan.links]
    pods = _by_name(pod_manifests(plan))
    together = {INSTANCE: "unit", LESSON_ID: LESSON_ID_VALUE}

    for name, pod in pods.items():
        affinity = pod["spec"]["affinity"]["podAffinity"]
        assert affinity == {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": together},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
        linked = plan.guide is None or name != plan.guide.name
        linked = linked and bool(plan.endpoint(name).attachments)
        gates = pod["spec"].get("readinessGates")
        assert gates == ([{"conditionType": "lessonq.io/links-wired"}] if linked else None)
        kubernetes_validate.validate(pod, latest_version(), strict=True)
    for link, nad in zip(plan.links, network_manifests(plan, vnis), strict=True):
        assert nad["metadata"]["annotations"] == {"lessonq.io/vni": str(5000 + link.index)}
        assert json.loads(nad["spec"]["config"])["mtu"] == 1450


def test_bridge_mode_keeps_the_required_affinity_and_no_gate_or_vni(
    plans: dict[str, LessonPlan],
) -> None:
    plan = plans["bgp-spine-leaf"]
    for pod in pod_manifests(plan):
        assert (
            "requiredDuringSchedulingIgnoredDuringExecution"
            in pod["spec"]["affinity"]["podAffinity"]
        )
        assert "readinessGates" not in pod["spec"]
    assert all("annotations" not in nad["metadata"] for nad in network_manifests(plan, [7, 8]))
