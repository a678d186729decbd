"""Presentations and Jupyter guides in the plan and the manifests: the Ingresses of web pages
(their hosts, TLS and class), the copy of their certificate, and the guide's pod and Service,
checked against the upstream schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from config import load_settings
from lessons.curriculum import Curriculum, LessonError, load_curriculum, parse_lesson
from lessons.files import MOUNT_PATH
from lessons.manifests import (
    NETWORKS_ANNOTATION,
    POLICY_NAME,
    TLS_NAME,
    ingress_manifests,
    pod_manifests,
    policy_manifests,
    service_manifests,
    tls_manifest,
)
from lessons.model import PresentationType
from lessons.naming import (
    ENDPOINT,
    GUIDE,
    GUIDE_NAME,
    INSTANCE,
    LESSON_ID,
    ingress_host,
    ingress_name,
    is_dns1123_label,
)
from lessons.plan import LessonPlan, build_plan
from lessons.steps import Desired, Step, all_manifests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "curriculum"
KUBE_VERSION = latest_version()
DOMAIN = "labs.example.com"
WEB = {
    "presentation_domain": DOMAIN,
    "presentation_tls_secret": "labs-tls",
    "ingress_class": "nginx",
    "jupyter_image": "registry.example.com/lab/notebook:7",
}


@pytest.fixture(scope="module")
def curriculum() -> Curriculum:
    return load_curriculum(EXAMPLES)


def plan_of(curriculum: Curriculum, slug: str, **settings: Any) -> LessonPlan:
    return build_plan(
        curriculum.lesson(slug),
        curriculum.images,
        lesson_id="0123456789abcdef",
        session_id="s1",
        settings=load_settings(**settings),
        files=curriculum.files[slug],
    )


def is_host_name(host: str) -> bool:
    return len(host) <= 253 and all(is_dns1123_label(label) for label in host.split("."))


# --- presentations in the plan ------------------------------------------------------------


def test_each_presentation_keeps_its_type_and_port_and_ssh_its_images_login(
    curriculum: Curriculum,
) -> None:
    plan = plan_of(curriculum, "bgp-spine-leaf", **WEB)
    cli, web = plan.endpoint("server1").presentations
    assert (cli.name, cli.type, cli.port, cli.ingress) == ("cli", PresentationType.SSH, 22, None)
    assert (cli.user, cli.password) == ("antidote", "antidotepassword")  # the utility image's
    assert (web.name, web.type, web.port, web.user, web.password) == (
        "web",
        PresentationType.HTTP,
        8080,
        None,
        None,
    )
    assert web.ingress is not None
    assert web.ingress.name == ingress_name("server1", "web")
    assert web.ingress.host == ingress_host(DOMAIN, plan.namespace, "server1", "web")
    assert (web.ingress.service, web.ingress.port) == ("server1", 8080)
    assert plan.url(web.ingress) == f"https://{web.ingress.host}/"


def test_an_image_given_by_reference_has_no_login_and_without_a_domain_no_page_is_published(
    curriculum: Curriculum,
) -> None:
    lesson = parse_lesson(
        {
            "name": "P",
            "slug": "p",
            "endpoints": [
                {
                    "name": "box",
                    "image": "registry.example.com/lab/box:1",
                    "presentations": [
                        {"name": "cli", "port": 22, "type": "ssh"},
                        {"name": "web", "port": 80, "type": "http"},
                    ],
                }
            ],
        },
        "<test>",
        {},
    )
    plan = build_plan(lesson, {}, lesson_id="x", session_id="s", settings=load_settings())
    cli, web = plan.endpoint("box").presentations
    assert (cli.user, cli.password) == (None, None)
    assert web.ingress is None
    assert plan.ingresses() == [] and ingress_manifests(plan) == []
    assert plan.tls_secret is None


def test_tls_only_with_a_domain_and_a_certificate(curriculum: Curriculum) -> None:
    with_tls = plan_of(curriculum, "bgp-spine-leaf", **WEB, namespace="lab-system")
    assert with_tls.tls_secret is not None
    assert (with_tls.tls_secret.namespace, with_tls.tls_secret.name) == ("lab-system", "labs-tls")
    plain = plan_of(curriculum, "bgp-spine-leaf", presentation_domain=DOMAIN)
    assert plain.tls_secret is None
    assert [plain.url(ingress) for ingress in plain.ingresses()] == [
        f"http://{ingress.host}/" for ingress in plain.ingresses()
    ]
    # A certificate without a domain has no page to serve.
    assert plan_of(curriculum, "bgp-spine-leaf", presentation_tls_secret="x").tls_secret is None


# --- Ingresses ----------------------------------------------------------------------------


def test_every_manifest_with_web_pages_is_valid_and_the_certificate_copy_too(
    curriculum: Curriculum,
) -> None:
    checked = set()
    for slug in curriculum.lessons:
        plan = plan_of(curriculum, slug, **WEB)
        files = curriculum.files[slug]
        for manifest in all_manifests(Desired(plan, files=lambda files=files: files)):
            if manifest["kind"] != "NetworkAttachmentDefinition":
                kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
                checked.add(manifest["kind"])
    assert {"Ingress", "Pod", "Service"} <= checked
    source = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "labs-tls", "namespace": "lessonq", "uid": "u", "annotations": {}},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
    }
    plan = plan_of(curriculum, "bgp-spine-leaf", **WEB)
    copy = tls_manifest(plan, source)
    kubernetes_validate.validate(copy, KUBE_VERSION, strict=True)
    assert copy["metadata"] == {
        "name": TLS_NAME,
        "namespace": plan.namespace,
        "labels": plan.labels(),
    }
    assert (copy["type"], copy["data"]) == (source["type"], source["data"])


def test_an_ingress_per_web_page_with_its_host_tls_and_class(curriculum: Curriculum) -> None:
    plan = plan_of(curriculum, "bgp-spine-leaf", **WEB)
    web, guide = ingress_manifests(plan)
    assert web["metadata"] == {
        "name": ingress_name("server1", "web"),
        "namespace": plan.namespace,
        "labels": plan.labels(),
    }
    host = ingress_host(DOMAIN, plan.namespace, "server1", "web")
    assert web["spec"] == {
        "ingressClassName": "nginx",
        "tls": [{"hosts": [host], "secretName": TLS_NAME}],
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "server1", "port": {"number": 8080}}},
                        }
                    ]
                },
            }
        ],
    }
    assert guide["metadata"]["name"] == GUIDE_NAME
    [rule] = guide["spec"]["rules"]
    assert rule["host"] == ingress_host(DOMAIN, plan.namespace, GUIDE_NAME)
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": GUIDE_NAME, "port": {"number": 8888}}
    # Without TLS or a class: plain http, and the cluster's default class.
    plain = plan_of(curriculum, "bgp-spine-leaf", presentation_domain=DOMAIN)
    for ingress in ingress_manifests(plain):
        assert set(ingress["spec"]) == {"rules"}


def test_hosts_are_one_label_under_the_domain_hashed_and_apart() -> None:
    namespace = "a-very-long-lesson-slug-for-a-session-with-a-long-id-abcdefghij"
    long_name = "an-endpoint-with-a-name-of-sixty-three-characters-in-all-xxxxxxx"
    hosts = {
        ingress_host(DOMAIN, namespace, "a", "b-c"),
        ingress_host(DOMAIN, namespace, "a-b", "c"),
        ingress_host(DOMAIN, namespace, "box", "Web UI"),
        ingress_host(DOMAIN, namespace, "box", "web-ui"),
        ingress_host(DOMAIN, namespace, long_name, "a presentation of any length " * 9),
        ingress_host(DOMAIN, namespace, GUIDE_NAME),
        ingress_host(DOMAIN, namespace + "x", GUIDE_NAME),
    }
    assert len(hosts) == 7
    for host in hosts:
        label, _, domain = host.partition(".")
        assert domain == DOMAIN and is_dns1123_label(label) and len(label) <= 63
        assert is_host_name(host)
    assert ingress_host(DOMAIN, "ns", "box", "Web UI").startswith("ns-box-web-ui-")
    names = {ingress_name("a", "b-c"), ingress_name("a-b", "c"), ingress_name("x", "!" * 300)}
    assert len(names) == 3 and all(is_dns1123_label(name) for name in names)
    # The longest domain the setting takes still makes a valid host name.
    longest = ".".join(["d" * 62] * 3)
    assert len(longest) == 188
    assert is_host_name(ingress_host(longest, namespace, long_name, "web"))


@pytest.mark.parametrize(
    "domain", ["Labs.example.com", "labs..example.com", "-labs.example.com", "", "a" * 64 + ".com"]
)
def test_a_presentation_domain_that_is_no_dns_domain_is_refused(domain: str) -> None:
    with pytest.raises(ValueError, match=r"LESSONQ_PRESENTATION_DOMAIN: .*must be a DNS domain"):
        load_settings(presentation_domain=domain)


def test_the_certificate_the_ingress_class_and_lessonqs_namespace_must_be_names() -> None:
    with pytest.raises(ValueError, match="LESSONQ_PRESENTATION_TLS_SECRET"):
        load_settings(presentation_tls_secret="Labs TLS")
    with pytest.raises(ValueError, match="LESSONQ_INGRESS_CLASS"):
        load_settings(ingress_class="nginx/public")
    with pytest.raises(ValueError, match="LESSONQ_NAMESPACE"):
        load_settings(namespace="lab.system")
    assert load_settings(presentation_tls_secret="wildcard.labs-tls").presentation_tls_secret


# --- the Jupyter guide --------------------------------------------------------------------


@pytest.fixture(scope="module")
def guided(curriculum: Curriculum) -> LessonPlan:
    return plan_of(curriculum, "bgp-spine-leaf", **WEB)  # stage 1's guide is a notebook


def test_a_lesson_with_a_jupyter_stage_gets_a_guide_not_counted_as_an_endpoint(
    guided: LessonPlan, curriculum: Curriculum
) -> None:
    assert guided.guide is not None
    assert (guided.guide.name, guided.guide.image, guided.guide.port) == (
        GUIDE_NAME,
        "registry.example.com/lab/notebook:7",
        8888,
    )
    assert GUIDE_NAME not in {endpoint.name for endpoint in guided.endpoints}
    assert guided.pods() == [endpoint.name for endpoint in guided.endpoints] + [GUIDE_NAME]
    # Markdown guides only: no notebook server.
    assert plan_of(curriculum, "snapshot-testing", **WEB).guide is None
    markdown = plan_of(curriculum, "snapshot-testing")
    assert markdown.pods() == [endpoint.name for endpoint in markdown.endpoints]


def test_the_guides_pod_serves_the_lesson_files_as_an_ordinary_pod(guided: LessonPlan) -> None:
    pods = {pod["metadata"]["name"]: pod for pod in pod_manifests(guided)}
    guide, endpoint = pods[GUIDE_NAME], pods["spine1"]
    labels = guide["metadata"]["labels"]
    assert labels == {**guided.labels(), GUIDE: GUIDE_NAME} and ENDPOINT not in labels
    assert NETWORKS_ANNOTATION not in guide["metadata"].get("annotations", {})
    spec = guide["spec"]
    [container] = spec["containers"]
    assert container["image"] == "registry.example.com/lab/notebook:7"
    assert container["args"][:2] == ["jupyter", "lab"]
    assert f"--ServerApp.root_dir={MOUNT_PATH}" in container["args"]
    assert "--port=8888" in container["args"]
    assert container["ports"] == [{"name": "http", "containerPort": 8888, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/api", "port": 8888}
    assert container["securityContext"] == {"privileged": False, "allowPrivilegeEscalation": False}
    assert "runtimeClassName" not in spec and "securityContext" not in spec
    # The lesson files as the endpoints see them, through the same volume.
    assert container["volumeMounts"] == endpoint["spec"]["containers"][0]["volumeMounts"]
    assert container["volumeMounts"][0]["mountPath"] == MOUNT_PATH
    assert spec["volumes"] == endpoint["spec"]["volumes"]
    # On the endpoints' node: its labels match their affinity, so it must share it.
    assert spec["affinity"] == endpoint["spec"]["affinity"]
    [term] = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"] == {
        INSTANCE: guided.instance_id,
        LESSON_ID: guided.lesson_id,
    }
    assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False


def test_the_guides_service_selects_its_pod_alone(guided: LessonPlan) -> None:
    services = {s["metadata"]["name"]: s for s in service_manifests(guided)}
    guide = services[GUIDE_NAME]["spec"]
    assert guide["selector"] == guided.guide_labels()
    assert guide["ports"] == [{"name": "http", "port": 8888, "targetPort": 8888, "protocol": "TCP"}]
    pods = {pod["metadata"]["name"]: pod["metadata"]["labels"] for pod in pod_manifests(guided)}

    def selected(service: str) -> set[str]:
        selector = services[service]["spec"]["selector"].items()
        return {name for name, labels in pods.items() if selector <= labels.items()}

    assert selected(GUIDE_NAME) == {GUIDE_NAME}
    assert all(selected(endpoint.name) == {endpoint.name} for endpoint in guided.endpoints)


def test_the_lessons_network_policy_applies_to_the_guide_and_leaves_ingress_open(
    guided: LessonPlan,
) -> None:
    [policy] = policy_manifests(guided)
    assert policy["metadata"]["name"] == POLICY_NAME
    # Every pod of the namespace; only egress is limited, so the ingress controller gets in.
    assert policy["spec"]["podSelector"] == {}
    assert policy["spec"]["policyTypes"] == ["Egress"]


def test_the_guide_and_its_ingress_are_made_by_the_pods_and_services_steps(
    guided: LessonPlan, curriculum: Curriculum
) -> None:
    desired = Desired(guided, files=lambda: curriculum.files["bgp-spine-leaf"])
    made = {
        step: {(m["kind"], m["metadata"]["name"]) for m in step.creates(desired)}
        for step in (Step.PODS, Step.SERVICES)
        if step.creates is not None
    }
    assert ("Pod", GUIDE_NAME) in made[Step.PODS]
    assert {("Service", GUIDE_NAME), ("Ingress", GUIDE_NAME)} <= made[Step.SERVICES]
    assert ("Ingress", ingress_name("server1", "web")) in made[Step.SERVICES]


def test_a_lesson_without_a_folder_has_no_notebooks_and_no_guide() -> None:
    lesson = parse_lesson(
        {
            "name": "Inline",
            "slug": "inline",
            "endpoints": [{"name": "h1", "image": "a/b"}],
            "stages": [{"description": "notebook", "guideType": "jupyter"}],
        },
        "<test>",
        {},
    )
    plan = build_plan(lesson, {}, lesson_id="x", session_id="s", settings=load_settings(**WEB))
    assert plan.guide is None and plan.pods() == ["h1"]


def test_an_endpoint_may_not_take_the_guides_name_in_a_lesson_with_a_jupyter_guide() -> None:
    endpoints = [{"name": "h1", "image": "a/b"}, {"name": GUIDE_NAME, "image": "a/b"}]
    stages = [{"description": "notebook", "guideType": "jupyter"}]
    with pytest.raises(LessonError) as raised:
        parse_lesson(
            {"name": "G", "slug": "g", "endpoints": endpoints, "stages": stages}, "<test>", {}
        )
    [problem] = raised.value.problems
    assert problem.field == "endpoints[1].name"
    assert f"{GUIDE_NAME!r} is the name of the lesson's Jupyter guide" in problem.message
    # Without a Jupyter guide, the name is free.
    markdown = [{"description": "text", "guideType": "markdown"}]
    parse_lesson({"name": "G", "slug": "g", "endpoints": endpoints, "stages": markdown}, "<t>", {})
