"""Deletion as the apiserver does it: preconditions, grace periods, propagation, namespaces."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from kubesim import KubeSim
from tests.kubesim.conftest import Raw, error_body, namespace, pod_body, wait_for


def gone(read: object, *args: str) -> bool:
    try:
        read(*args)  # type: ignore[operator]
    except client.ApiException as exc:
        return exc.status == 404
    return False


def test_uid_precondition(core: client.CoreV1Api) -> None:
    ns = namespace(core, "lesson")
    with pytest.raises(client.ApiException) as caught:
        core.delete_namespace(
            "lesson", body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="0000"))
        )
    body = error_body(caught.value)
    assert (caught.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        f'Operation cannot be fulfilled on namespaces "lesson": Precondition failed: '
        f"UID in precondition: 0000, UID in object meta: {ns.metadata.uid}"
    )
    core.delete_namespace(
        "lesson",
        body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=ns.metadata.uid)),
    )


def test_resource_version_precondition(core: client.CoreV1Api) -> None:
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    patched = core.patch_namespaced_config_map("cm", "default", {"data": {"a": "b"}})
    with pytest.raises(client.ApiException) as caught:
        core.delete_namespaced_config_map(
            "cm",
            "default",
            body=client.V1DeleteOptions(
                preconditions=client.V1Preconditions(resource_version=cm.metadata.resource_version)
            ),
        )
    assert caught.value.status == 409
    assert error_body(caught.value)["message"] == (
        'Operation cannot be fulfilled on ConfigMap "cm": the ResourceVersion in the precondition '
        f"({cm.metadata.resource_version}) does not match the ResourceVersion in record "
        f"({patched.metadata.resource_version}). The object might have been modified"
    )


def test_uid_precondition_of_the_generic_store_names_the_kind(sim: KubeSim) -> None:
    """rest.BeforeDelete checks preconditions early and words them its own way."""
    batch = client.BatchV1Api(client.ApiClient(client.Configuration(host=sim.url)))
    spec = {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
    job = batch.create_namespaced_job(
        "default", {"metadata": {"name": "cfg"}, "spec": {"template": {"spec": spec}}}
    )
    with pytest.raises(client.ApiException) as caught:
        batch.delete_namespaced_job("cfg", "default", body={"preconditions": {"uid": "0000"}})
    body = error_body(caught.value)
    assert (caught.value.status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on Job.batch "cfg": the UID in the precondition (0000) '
        f"does not match the UID in record ({job.metadata.uid}). The object might have been "
        "deleted and then recreated"
    )
    assert body["details"] == {"name": "cfg", "group": "batch", "kind": "Job"}


def test_plain_delete_answers_a_success_status(raw: Raw, core: client.CoreV1Api) -> None:
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    status, body, _ = raw.request("DELETE", "/api/v1/namespaces/default/configmaps/cm")
    assert status == 200
    assert body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"] == {"name": "cm", "kind": "configmaps", "uid": cm.metadata.uid}


def test_pod_deletion_is_graceful(core: client.CoreV1Api, raw: Raw) -> None:
    namespace(core, "a")
    core.create_namespaced_pod("a", pod_body("p"))
    wait_for(lambda: core.read_namespaced_pod("p", "a").status.phase == "Running", what="running")
    status, body, _ = raw.request(
        "DELETE", "/api/v1/namespaces/a/pods/p", {"gracePeriodSeconds": 30}
    )
    assert status == 200
    assert body["kind"] == "Pod"
    assert body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 30
    assert core.read_namespaced_pod("p", "a").metadata.deletion_timestamp is not None
    wait_for(lambda: gone(core.read_namespaced_pod, "p", "a"), what="pod gone")


def test_grace_period_zero_is_immediate(core: client.CoreV1Api) -> None:
    namespace(core, "a")
    core.create_namespaced_pod("a", pod_body("p"))
    wait_for(lambda: core.read_namespaced_pod("p", "a").spec.node_name, what="bound")
    core.delete_namespaced_pod("p", "a", grace_period_seconds=0)
    assert gone(core.read_namespaced_pod, "p", "a")


def owned_config_map(core: client.CoreV1Api, owner: client.V1ConfigMap, name: str) -> None:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "blockOwnerDeletion": True,
    }
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": name, "ownerReferences": [ref]}}
    )


def test_background_propagation_removes_dependents(core: client.CoreV1Api) -> None:
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    owned_config_map(core, owner, "child")
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Background")
    wait_for(
        lambda: gone(core.read_namespaced_config_map, "child", "default"), what="child collected"
    )


def test_orphan_propagation_keeps_dependents(core: client.CoreV1Api) -> None:
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    owned_config_map(core, owner, "child")
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    wait_for(lambda: gone(core.read_namespaced_config_map, "owner", "default"), what="owner gone")
    assert core.read_namespaced_config_map("child", "default").metadata.owner_references is None


def test_foreground_propagation_waits_for_dependents(core: client.CoreV1Api, raw: Raw) -> None:
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    owned_config_map(core, owner, "child")
    status, body, _ = raw.request(
        "DELETE", "/api/v1/namespaces/default/configmaps/owner", {"propagationPolicy": "Foreground"}
    )
    assert status == 200
    assert body["metadata"]["finalizers"] == ["foregroundDeletion"]
    wait_for(lambda: gone(core.read_namespaced_config_map, "owner", "default"), what="owner gone")
    assert gone(core.read_namespaced_config_map, "child", "default")


def test_bad_propagation_policy(raw: Raw, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    status, _, _ = raw.request(
        "DELETE", "/api/v1/namespaces/default/configmaps/cm", {"propagationPolicy": "Sideways"}
    )
    assert status == 422


def test_namespace_lifecycle(sim: KubeSim, core: client.CoreV1Api, raw: Raw) -> None:
    namespace(core, "lesson")
    core.create_namespaced_pod("lesson", pod_body("p"))
    core.create_namespaced_config_map("lesson", {"metadata": {"name": "cm"}})
    wait_for(
        lambda: core.read_namespaced_pod("p", "lesson").status.phase == "Running", what="running"
    )
    status, body, _ = raw.request("DELETE", "/api/v1/namespaces/lesson")
    assert status == 200
    assert body["status"]["phase"] == "Terminating" and body["metadata"]["deletionTimestamp"]
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map("lesson", {"metadata": {"name": "late"}})
    forbidden = error_body(caught.value)
    assert (caught.value.status, forbidden["reason"]) == (403, "Forbidden")
    assert forbidden["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace lesson '
        "because it is being terminated"
    )
    wait_for(lambda: gone(core.read_namespace, "lesson"), what="namespace gone")
    assert core.list_namespaced_pod("lesson").items == []


def test_namespace_name_label_is_kept(core: client.CoreV1Api) -> None:
    namespace(core, "lesson")
    patched = core.patch_namespace(
        "lesson", {"metadata": {"labels": {"kubernetes.io/metadata.name": "other", "team": "a"}}}
    )
    assert patched.metadata.labels == {"kubernetes.io/metadata.name": "lesson", "team": "a"}


def test_deleting_a_job_orphans_its_pods_unless_told(sim: KubeSim, raw: Raw) -> None:
    job = {
        "metadata": {"name": "cfg"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
            }
        },
    }
    raw.request("POST", "/apis/batch/v1/namespaces/default/jobs", job)
    status, _, headers = raw.request("DELETE", "/apis/batch/v1/namespaces/default/jobs/cfg")
    assert status == 200
    assert "child pods are preserved by default" in headers["Warning"]


def config_map_owned_by(
    core: client.CoreV1Api, name: str, *refs: dict[str, object], finalizers: list[str] | None = None
) -> None:
    meta: dict[str, object] = {"name": name, "ownerReferences": list(refs)}
    if finalizers:
        meta["finalizers"] = finalizers
    core.create_namespaced_config_map("default", {"metadata": meta})


def ref(name: str, uid: str, kind: str = "ConfigMap", **extra: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": kind, "name": name, "uid": uid, **extra}


def test_a_dependent_whose_owner_is_not_there_is_collected(core: client.CoreV1Api) -> None:
    other = core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    config_map_owned_by(core, "orphan", ref("ghost", "00000000-0000-4000-8000-000000000000"))
    config_map_owned_by(core, "impostor", ref("other", "00000000-0000-4000-8000-000000000001"))
    config_map_owned_by(core, "kept", ref("other", other.metadata.uid))
    for name in ("orphan", "impostor"):
        wait_for(
            lambda name=name: gone(core.read_namespaced_config_map, name, "default"),
            what=f"{name} collected",
        )
    assert core.read_namespaced_config_map("kept", "default").metadata.owner_references


def test_a_dependent_with_a_solid_owner_loses_only_its_dangling_reference(
    core: client.CoreV1Api,
) -> None:
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    config_map_owned_by(
        core,
        "child",
        ref("owner", owner.metadata.uid),
        ref("ghost", "00000000-0000-4000-8000-000000000000"),
    )
    refs = wait_for(
        lambda: (
            (r := core.read_namespaced_config_map("child", "default").metadata.owner_references)
            and len(r) == 1
            and r
        ),
        what="the dangling reference dropped",
    )
    assert refs[0].uid == owner.metadata.uid


def test_an_owner_of_an_unknown_kind_cannot_be_judged(core: client.CoreV1Api) -> None:
    """The collector cannot map apps/v1 Deployment here: it deletes nothing, as upstream."""
    deployment = {**ref("web", "00000000-0000-4000-8000-000000000000"), "apiVersion": "apps/v1"}
    config_map_owned_by(core, "child", {**deployment, "kind": "Deployment"})
    config_map_owned_by(core, "marker", ref("ghost", "00000000-0000-4000-8000-000000000001"))
    wait_for(lambda: gone(core.read_namespaced_config_map, "marker", "default"), what="marker")
    assert core.read_namespaced_config_map("child", "default").metadata.owner_references


def test_foreground_deletion_waits_for_blocking_dependents_only(core: client.CoreV1Api) -> None:
    hold = ["example.com/hold"]
    for blocking in (True, False):
        owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
        owned = ref("owner", owner.metadata.uid, blockOwnerDeletion=blocking)
        config_map_owned_by(core, "child", owned, finalizers=hold)
        core.delete_namespaced_config_map("owner", "default", propagation_policy="Foreground")
        wait_for(
            lambda: core.read_namespaced_config_map("child", "default").metadata.deletion_timestamp,
            what="child deleting",
        )
        if blocking:
            time.sleep(0.2)
            assert core.read_namespaced_config_map("owner", "default").metadata.finalizers == [
                "foregroundDeletion"
            ]
            core.patch_namespaced_config_map("child", "default", {"metadata": {"finalizers": None}})
        wait_for(lambda: gone(core.read_namespaced_config_map, "owner", "default"), what="owner")
        if not blocking:
            core.patch_namespaced_config_map("child", "default", {"metadata": {"finalizers": None}})
        wait_for(lambda: gone(core.read_namespaced_config_map, "child", "default"), what="child")


def test_deletion_metadata_as_the_apiserver_sets_it(core: client.CoreV1Api, raw: Raw) -> None:
    """A namespace has no grace period; a graceful delete bumps a pod's generation once, and a
    shorter grace period later keeps it."""
    namespace(core, "lesson")
    status, body, _ = raw.request("DELETE", "/api/v1/namespaces/lesson")
    assert status == 200 and body["metadata"]["deletionTimestamp"]
    assert "deletionGracePeriodSeconds" not in body["metadata"]
    namespace(core, "a")
    core.create_namespaced_pod("a", pod_body("p"))
    wait_for(lambda: core.read_namespaced_pod("p", "a").spec.node_name, what="bound")
    assert core.read_namespaced_pod("p", "a").metadata.generation == 1
    for grace in (60, 30):
        status, body, _ = raw.request(
            "DELETE", "/api/v1/namespaces/a/pods/p", {"gracePeriodSeconds": grace}
        )
        meta = body["metadata"]
        assert (meta["generation"], meta["deletionGracePeriodSeconds"]) == (2, grace)
