"""The kinds lessonq handles (``kube.kinds``): where each lives in the API, and refusing the
rest."""

from __future__ import annotations

import pytest

from kube.kinds import (
    KINDS,
    NAMESPACE,
    NETWORK_ATTACHMENT_DEFINITION,
    NETWORK_POLICY,
    POD,
    SERVICE,
    Kind,
    kind_of,
)


def test_a_cluster_wide_kind_has_no_namespace_in_its_path() -> None:
    assert NAMESPACE.path() == "/api/v1/namespaces"
    assert NAMESPACE.path(name="lesson-1") == "/api/v1/namespaces/lesson-1"
    assert NAMESPACE.path("ignored", "lesson-1") == "/api/v1/namespaces/lesson-1"


def test_a_core_kind_lives_under_api_and_its_namespace() -> None:
    assert POD.path("ns-1") == "/api/v1/namespaces/ns-1/pods"
    assert SERVICE.path("ns-1", "r1") == "/api/v1/namespaces/ns-1/services/r1"
    assert POD.api_version == "v1"


def test_a_grouped_kind_lives_under_apis_and_its_group() -> None:
    assert NETWORK_POLICY.path("ns-1", "egress") == (
        "/apis/networking.k8s.io/v1/namespaces/ns-1/networkpolicies/egress"
    )
    assert NETWORK_ATTACHMENT_DEFINITION.path("ns-1") == (
        "/apis/k8s.cni.cncf.io/v1/namespaces/ns-1/network-attachment-definitions"
    )
    assert NETWORK_POLICY.api_version == "networking.k8s.io/v1"


def test_names_are_quoted_so_they_stay_one_path_segment() -> None:
    assert POD.path("a/b", "c d/..") == "/api/v1/namespaces/a%2Fb/pods/c%20d%2F.."


@pytest.mark.parametrize("namespace", [None, ""])
def test_a_namespaced_kind_needs_a_namespace(namespace: str | None) -> None:
    with pytest.raises(ValueError, match="Pod objects live in a namespace"):
        POD.path(namespace, "r1")


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda kind: kind.kind)
def test_every_kind_is_found_from_its_manifest(kind: Kind) -> None:
    assert kind_of({"apiVersion": kind.api_version, "kind": kind.kind}) is kind


@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param({"apiVersion": "apps/v1", "kind": "Deployment"}, id="unknown-kind"),
        pytest.param({"apiVersion": "apps/v1", "kind": "Pod"}, id="wrong-group"),
        pytest.param({"apiVersion": "extensions/v1beta1", "kind": "NetworkPolicy"}, id="old"),
        pytest.param({"apiVersion": "v1"}, id="no-kind"),
        pytest.param({"kind": "Service"}, id="no-api-version"),
    ],
)
def test_a_kind_lessonq_does_not_handle_is_refused(manifest: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="lessonq does not handle"):
        kind_of(manifest)


def test_a_namespaced_kind_is_listed_everywhere_by_a_path_of_its_own() -> None:
    assert POD.everywhere == "/api/v1/pods"
    assert NETWORK_ATTACHMENT_DEFINITION.everywhere == (
        "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
    )
