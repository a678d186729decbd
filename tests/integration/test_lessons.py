"""End to end: each example lesson provisioned by a real worker on kubesim, then torn down."""

from __future__ import annotations

import pytest

from lessons.manifests import TLS_NAME
from lessons.naming import ENDPOINT, GUIDE_NAME, INSTANCE, LESSON, LESSON_ID, MANAGED
from lessons.state import LessonState
from lessons.steps import Step
from scheduler.client import LessonClient
from tests.support.checks import EXAMPLES, assert_matches_manifests
from tests.support.kube import ClusterView
from tests.support.stack import Stack


@pytest.mark.parametrize("slug", EXAMPLES)
def test_example_lesson_reaches_ready_then_teardown_leaves_nothing(
    stack: Stack, session_id: str, slug: str
) -> None:
    client = stack.client()
    view = ClusterView(stack.sim.url)
    created = client.create(slug, session_id)
    assert created.state is LessonState.QUEUED
    progress: list[tuple[str, str | None, int]] = []
    ready = client.wait(
        created.id,
        timeout=60,
        on_progress=lambda r: progress.append((r.state.value, r.current_step, r.healthy)),
    )
    assert ready.state is LessonState.READY, ready.error
    assert ready.healthy == ready.total > 0
    assert all(ready.step_done(step) for step in Step)
    assert ready.namespace_uid == view.namespace(ready.namespace)["metadata"]["uid"]
    assert progress[-1] == ("READY", None, ready.total)
    assert_matches_manifests(view, ready, stack)
    labels = view.namespace(ready.namespace)["metadata"]["labels"]
    assert labels[MANAGED] == "true" and labels[INSTANCE] == "test" and labels[LESSON] == slug

    client.teardown(created.id)
    gone = client.wait(created.id, timeout=30)
    assert gone.state is LessonState.GONE
    assert view.namespace(ready.namespace) is None
    assert view.namespaces(f"{LESSON_ID}={created.id}") == []
    assert created.id not in {r.id for r in client.list()}


def test_pods_carry_endpoint_labels_and_resolve_by_service_name(
    stack: Stack, session_id: str
) -> None:
    client = stack.client()
    view = ClusterView(stack.sim.url)
    record = client.wait(client.create("linux-basics", session_id).id, timeout=60)
    assert record.state is LessonState.READY, record.error
    plan = client.registry.plan(record.id)
    for endpoint in plan.endpoints:
        pod = view.get("Pod", record.namespace, endpoint.name)
        service = view.get("Service", record.namespace, endpoint.name)
        assert pod["metadata"]["labels"][ENDPOINT] == endpoint.name
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    client.teardown(record.id)
    assert client.wait(record.id, timeout=30).state is LessonState.GONE


def test_web_pages_get_their_ingresses_and_certificate_and_the_guide_its_pod(
    stack: Stack, session_id: str
) -> None:
    view = ClusterView(stack.sim.url)
    certificate = view.certificate("lab-system", "labs-tls")
    web = {
        "presentation_domain": "labs.example.com",
        "presentation_tls_secret": "labs-tls",
        "namespace": "lab-system",
        "ingress_class": "nginx",
    }
    # The plan is the intake's: these settings decide the pages; the worker makes them.
    client = LessonClient(stack.settings.model_copy(update=web))
    record = client.wait(client.create("bgp-spine-leaf", session_id).id, timeout=90)
    assert record.state is LessonState.READY, record.error
    assert record.healthy == record.total == 8  # the guide is no endpoint

    assert_matches_manifests(view, record, stack)  # Ingresses and the guide's pod (ready) too
    plan = client.registry.plan(record.id)
    ingresses = view.networking.list_namespaced_ingress(record.namespace).items
    assert sorted(i.spec.rules[0].host for i in ingresses) == sorted(
        ingress.host for ingress in plan.ingresses()
    )
    assert len(ingresses) == 2 and GUIDE_NAME in {i.metadata.name for i in ingresses}
    copy = view.get("Secret", record.namespace, TLS_NAME)
    assert (copy["type"], copy["data"]) == (certificate["type"], certificate["data"])
    assert copy["metadata"]["labels"][LESSON_ID] == record.id

    client.teardown(record.id)
    assert client.wait(record.id, timeout=30).state is LessonState.GONE
    assert view.namespace(record.namespace) is None
    # The original stays where the operator keeps it.
    assert view.get("Secret", "lab-system", "labs-tls")["data"] == certificate["data"]
