"""The differential corpus: requests sent alike, in this order, to kubesim and to the real
kube-apiserver (tests/realcluster/test_differential.py compares the answers).

Every request is built from the run's names alone, so both servers get the same bytes; the
exceptions are `<rv:ID>` and `<uid:ID>` in a path, query or body, which each server's runner
replaces with the resourceVersion or uid of its own answer to the request `ID` (a stale
resourceVersion is one read before a later write).

Whatever the servers' timing could change is kept out: the kubelets' events and status writes
(their reasons are not the ones listed here), the Job's pods (in the other namespace), and old
resourceVersions of busy resources (the real watch cache drops events after a while, kubesim after
its window: the watch from resourceVersion 1 is on RuntimeClasses, which nothing else writes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
NO_UID = "00000000-0000-0000-0000-000000000000"  # a uid no object has
WATCH_SECONDS = "1"  # a watch that sees nothing ends this soon, on both servers
GENERATE_NAME = "gen-"

PODS = "/api/v1/namespaces/{ns}/pods"
SERVICES = "/api/v1/namespaces/{ns}/services"
CONFIG_MAPS = "/api/v1/namespaces/{ns}/configmaps"
SECRETS = "/api/v1/namespaces/{ns}/secrets"
EVENTS = "/api/v1/namespaces/{ns}/events"
POLICIES = "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"
INGRESSES = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
JOBS = "/apis/batch/v1/namespaces/{other}/jobs"  # their pods would show in {ns}'s pod lists
NADS = "/apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions"
RUNTIME_CLASSES = "/apis/node.k8s.io/v1/runtimeclasses"
NAMESPACES = "/api/v1/namespaces"


@dataclass(frozen=True)
class Call:
    """One request. `body`: JSON, or bytes sent as they are."""

    id: str
    method: str
    path: str
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @property
    def watch(self) -> bool:
        return self.query.get("watch") == "true"


def get(id: str, path: str, **query: str) -> Call:
    return Call(id, "GET", path, query=query)


def post(id: str, path: str, body: Any, **query: str) -> Call:
    return Call(id, "POST", path, body, query)


def put(id: str, path: str, body: Any) -> Call:
    return Call(id, "PUT", path, body)


def patch(id: str, path: str, body: Any, content_type: str = MERGE) -> Call:
    return Call(id, "PATCH", path, body, content_type=content_type)


def delete(id: str, path: str, body: Any = None, **query: str) -> Call:
    return Call(id, "DELETE", path, body, query)


@dataclass(frozen=True)
class Names:
    """The run's names: its namespaces (and cluster-scoped objects) are its own."""

    run: str

    @property
    def ns(self) -> str:
        return f"diff-{self.run}"

    @property
    def other(self) -> str:
        return f"diff-{self.run}-b"

    @property
    def doomed(self) -> str:
        """A namespace the corpus deletes, then writes into."""
        return f"diff-{self.run}-gone"

    @property
    def runtime_class(self) -> str:
        return f"diff-{self.run}-kata"

    @property
    def label(self) -> JSON:
        """On everything the run creates at the top: how the clean-up finds it."""
        return {"diff-run": self.run}

    def fill(self, template: str) -> str:
        return template.format(ns=self.ns, other=self.other, doomed=self.doomed)


def obj(kind: str, api_version: str, name: str, **rest: Any) -> JSON:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **rest}


def generated(body: JSON) -> JSON:
    """The object with a generated name (normalised in the comparison)."""
    return {**body, "metadata": {"generateName": GENERATE_NAME, "labels": {"app": "gen"}}}


# pods


def container(name: str = "main", image: str = "busybox", **rest: Any) -> JSON:
    return {"name": name, "image": image, **rest}


def pod(name: str, *containers: JSON, labels: JSON | None = None, **spec: Any) -> JSON:
    """No API token: the ServiceAccount admission plugin then asks nothing of the account."""
    body = obj(
        "Pod",
        "v1",
        name,
        spec={
            "automountServiceAccountToken": False,
            "containers": list(containers) or [container()],
            **spec,
        },
    )
    if labels:
        body["metadata"]["labels"] = labels
    return body


def lesson_pod(name: str) -> JSON:
    """A pod as lessonq makes one: ports, a probe, sysctls, affinity, a volume, capabilities."""
    main = container(
        name,
        "vqfx:latest",
        ports=[{"name": "ssh", "containerPort": 22, "protocol": "TCP"}],
        readinessProbe={"tcpSocket": {"port": 22}, "periodSeconds": 2},
        securityContext={"privileged": False, "capabilities": {"add": ["NET_ADMIN"]}},
        resources={"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        volumeMounts=[{"name": "files", "mountPath": "/antidote", "readOnly": True}],
    )
    together = {
        "labelSelector": {"matchLabels": {"app": name}},
        "topologyKey": "kubernetes.io/hostname",
    }
    return pod(
        name,
        main,
        labels={"app": name, "tier": "device"},
        hostname=name,
        enableServiceLinks=False,
        affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [together]}},
        securityContext={"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}]},
        volumes=[{"name": "files", "configMap": {"name": "files", "optional": True}}],
    )


def ports(*entries: JSON) -> JSON:
    return container(ports=list(entries))


def resources(**requirements: JSON) -> JSON:
    return container(resources=requirements)


def invalid_pods() -> list[Call]:
    """Pods the apiserver refuses, each for one reason (422, or 400 from the decoder)."""
    cases = {
        "pod-bad-name": pod("Bad_Name"),
        "pod-missing-image": pod("noimage", container(image="")),
        "pod-bad-container-name": pod("badcontainer", container("Main_1")),
        "pod-duplicate-containers": pod("dupcontainers", container(), container()),
        "pod-port-too-big": pod("bigport", ports({"containerPort": 70000})),
        "pod-bad-host-port": pod("hostport", ports({"containerPort": 80, "hostPort": -1})),
        "pod-bad-port-name": pod("portname", ports({"name": "Http_Port", "containerPort": 80})),
        "pod-bad-protocol": pod("protocol", ports({"containerPort": 80, "protocol": "QUIC"})),
        "pod-bad-sysctl": pod(
            "badsysctl", securityContext={"sysctls": [{"name": "net..ipv4", "value": "1"}]}
        ),
        "pod-requests-over-limits": pod(
            "overlimits", resources(requests={"cpu": "2"}, limits={"cpu": "1"})
        ),
        "pod-negative-memory": pod("negmemory", resources(limits={"memory": "-1Mi"})),
        "pod-bad-resource-name": pod("resname", resources(limits={"cpu_cores": "1"})),
        "pod-bad-restart-policy": pod("badrestart", restartPolicy="Sometimes"),
        "pod-bad-pull-policy": pod("badpull", container(imagePullPolicy="Sometimes")),
        "pod-zero-deadline": pod("zerodeadline", activeDeadlineSeconds=0),
        "pod-port-string": pod("portstring", ports({"containerPort": "eighty"})),
        "pod-bad-quantity": pod("quantity", resources(limits={"cpu": "lots"})),
        "pod-missing-runtime-class": pod("norc", runtimeClassName="diff-nope"),
    }
    return [post(id, PODS, body) for id, body in cases.items()]


def malformed_pods(names: Names) -> list[Call]:
    """Bodies refused before validation: paths, kinds, namespaces, JSON, media types."""
    elsewhere = {"name": "mismatch", "namespace": names.other}
    return [
        post("pod-create-namespace-mismatch", PODS, {**pod("mismatch"), "metadata": elsewhere}),
        post("pod-create-missing-namespace", "/api/v1/namespaces/diff-nowhere/pods", pod("lost")),
        post("pod-create-wrong-kind", PODS, {**pod("wrongkind"), "kind": "Service"}),
        post("pod-create-malformed", PODS, b'{"metadata": {"name": "x"'),
        post("pod-create-empty-body", PODS, b""),
        Call("pod-create-text-plain", "POST", PODS, b"{}", content_type="text/plain"),
        post(
            "pod-create-with-rv",
            PODS,
            {**pod("withrv"), "metadata": {"name": "withrv", "resourceVersion": "5"}},
        ),
        post("pod-post-to-name", PODS + "/web", pod("web")),
        put("pod-put-collection", PODS, pod("web")),
        # fieldValidation (v1.25): v1.20 drops unknown fields, kubesim refuses them (README)
        post("pod-unknown-field", PODS, {**pod("unknownfield"), "spex": {}}),
        # relaxed in v1.32: kubesim takes it (README); in {other}, out of {ns}'s pod lists
        post(
            "pod-env-name-digit-first",
            "/api/v1/namespaces/{other}/pods",
            pod("badenv", container(env=[{"name": "1BAD", "value": "x"}])),
        ),
    ]


def pods() -> list[Call]:
    web = pod("web", labels={"app": "web"})
    web_at = PODS + "/web"
    return [
        post("pod-create", PODS, lesson_pod("r1")),
        post("pod-create-web", PODS, web),
        post(
            "pod-create-unsafe-sysctl",
            PODS,
            pod("unsafe", securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
        ),
        post("pod-create-generate-name", PODS, generated(pod(""))),
        *invalid_pods(),
        get("pod-get-missing", PODS + "/nothere"),
        get("pod-get-unknown-subresource", web_at + "/shell"),
        get("pod-list", PODS),
        get("pod-list-label-set", PODS, labelSelector="app in (web,r1),tier!=x,!nothing"),
        get("pod-list-label-bad", PODS, labelSelector="app in web"),
        get("pod-list-field-phase", PODS, fieldSelector="status.phase=Nowhere,spec.nodeName!=x"),
        get("pod-list-field-unsupported", PODS, fieldSelector="spec.image=x"),
        get(
            "pod-list-all-namespaces",
            "/api/v1/pods",
            labelSelector="app=web",
            fieldSelector="metadata.namespace={ns}",
        ),
        get("pod-read-for-update", web_at),  # its resourceVersion goes stale below
        patch(
            "pod-patch-merge-spec",
            web_at,
            {"spec": {"containers": [{"name": "main", "image": "busybox", "tty": True}]}},
        ),
        patch(
            "pod-patch-strategic-image",
            web_at,
            {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}},
            STRATEGIC,
        ),
        patch(
            "pod-patch-strategic-bad-label",
            web_at,
            {"metadata": {"labels": {"a": "-b-"}}},
            STRATEGIC,
        ),
        patch(
            "pod-patch-json-replace-new-key",
            web_at,
            [{"op": "replace", "path": "/metadata/labels/nothere", "value": "x"}],
            JSON_PATCH,
        ),
        patch(
            "pod-patch-json-missing-parent",
            web_at,
            [{"op": "replace", "path": "/metadata/nothing/x", "value": "x"}],
            JSON_PATCH,
        ),
        patch(
            "pod-patch-json-not-a-list",
            web_at,
            {"op": "add", "path": "/metadata/labels/x", "value": "y"},
            JSON_PATCH,
        ),
        patch("pod-patch-wrong-type", web_at, {"spec": {"activeDeadlineSeconds": "soon"}}),
        patch("pod-patch-text", web_at, b'{"metadata":{}}', "text/plain"),
        put(
            "pod-update-stale",
            web_at,
            {**web, "metadata": {"name": "web", "resourceVersion": "<rv:pod-read-for-update>"}},
        ),
        # no resourceVersion, and none of the defaults: they come back, the rest may not change
        put("pod-update-spec", web_at, web),
        put("pod-update-name-mismatch", web_at, pod("other")),
    ]


def pod_deletes() -> list[Call]:
    web = PODS + "/web"
    stale = {"preconditions": {"resourceVersion": "<rv:pod-read-for-update>"}}
    return [
        delete("pod-delete-wrong-uid", web, {"preconditions": {"uid": NO_UID}}),
        delete("pod-delete-stale-rv", web, stale),
        delete("pod-delete-bad-grace", web, gracePeriodSeconds="soon"),
        delete("pod-delete-bad-propagation", web, propagationPolicy="Sideways"),
        delete("pod-delete-missing", PODS + "/nothere"),
        delete(
            "pod-delete-right-uid",
            web,
            {"preconditions": {"uid": "<uid:pod-read-for-update>"}, "gracePeriodSeconds": 0},
        ),
        delete("pod-deletecollection", PODS, labelSelector="app=gen"),
    ]


# services


def service(name: str, **spec: Any) -> JSON:
    ports = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    return obj("Service", "v1", name, spec={"selector": {"app": "web"}, "ports": ports, **spec})


def services() -> list[Call]:
    cases = {
        "svc-create": service("web", type="ClusterIP"),
        "svc-create-headless": service("r1", clusterIP="None", ports=[]),
        "svc-bad-name": service("1web"),
        "svc-no-ports": service("noports", ports=[]),
        "svc-duplicate-ports": service("dup", ports=[{"name": "a", "port": 80}] * 2),
        "svc-port-zero": service("portzero", ports=[{"port": 0}]),
        "svc-bad-type": service("badtype", type="Internal"),
        "svc-bad-protocol": service("protocol", ports=[{"port": 80, "protocol": "ICMP"}]),
        "svc-bad-target-port": service("target", ports=[{"port": 80, "targetPort": "Bad_Name"}]),
    }
    return [post(id, SERVICES, body) for id, body in cases.items()] + [
        get("svc-list", SERVICES),
        patch("svc-patch-cluster-ip", SERVICES + "/web", {"spec": {"clusterIP": "None"}}),
        patch(
            "svc-patch-strategic-ports",
            SERVICES + "/web",
            {"spec": {"ports": [{"port": 443, "name": "https"}]}},
            STRATEGIC,
        ),
        delete("svc-delete", SERVICES + "/r1"),
        # v1.20's services have no deletecollection (kubesim's have: README)
        delete("svc-deletecollection", SERVICES, labelSelector="app=none"),
    ]


# config maps and secrets


def config_map(name: str, **rest: Any) -> JSON:
    return obj("ConfigMap", "v1", name, **rest)


def config_maps() -> list[Call]:
    files_at = CONFIG_MAPS + "/files"
    files = config_map("files", data={"0000-lesson.yaml": "a: b\n"}, binaryData={"0001-x": "AAEC"})
    at_rv = {"name": "files", "resourceVersion": "<rv:cm-get>"}
    return [
        post("cm-create", CONFIG_MAPS, files),
        post("cm-create-exists", CONFIG_MAPS, files),
        post(
            "cm-create-immutable",
            CONFIG_MAPS,
            config_map("frozen", data={"a": "b"}, immutable=True),
        ),
        post("cm-wrong-api-version", CONFIG_MAPS, {**config_map("wrong"), "apiVersion": "apps/v1"}),
        post("cm-bad-key", CONFIG_MAPS, config_map("badkey", data={"bad key": "x"})),
        post(
            "cm-key-in-both",
            CONFIG_MAPS,
            config_map("both", data={"a": "x"}, binaryData={"a": "eA=="}),
        ),
        get("cm-get", files_at),
        get("cm-list-field", CONFIG_MAPS, fieldSelector="metadata.name=files"),
        put("cm-update", files_at, {**files, "metadata": at_rv, "data": {"a": "1"}}),
        put("cm-update-stale", files_at, {**files, "metadata": at_rv, "data": {"a": "2"}}),
        put(
            "cm-update-bad-label",
            files_at,
            {**files, "metadata": {"name": "files", "labels": {"x": "a b"}}},
        ),
        patch("cm-patch-merge", files_at, {"data": {"b": "2", "a": None}}),
        patch(
            "cm-patch-json-test-fails",
            files_at,
            [{"op": "test", "path": "/data/b", "value": "nope"}],
            JSON_PATCH,
        ),
        patch("cm-patch-immutable", CONFIG_MAPS + "/frozen", {"data": {"a": "c"}}),
        delete("cm-delete-wrong-rv", files_at, {"preconditions": {"resourceVersion": "1"}}),
        delete("cm-delete", CONFIG_MAPS + "/frozen"),
        delete("cm-deletecollection", CONFIG_MAPS, fieldSelector="metadata.name=files"),
    ]


def secret(name: str, **rest: Any) -> JSON:
    return obj("Secret", "v1", name, **rest)


def secrets() -> list[Call]:
    credentials = secret("creds", type="Opaque", data={"r1.username": "cm9vdA=="})
    basic = {**credentials, "type": "kubernetes.io/basic-auth", "data": {"username": "eA=="}}
    return [
        post("secret-create", SECRETS, credentials),
        post("secret-bad-base64", SECRETS, secret("b64", data={"a": "%%%"})),
        post("secret-tls-missing-keys", SECRETS, secret("tls", type="kubernetes.io/tls", data={})),
        get("secret-list-type", SECRETS, fieldSelector="type=Opaque"),
        put("secret-change-type", SECRETS + "/creds", basic),
    ]


# networking


def policy(name: str, **spec: Any) -> JSON:
    base = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"podSelector": {}}]}]}
    return obj("NetworkPolicy", "networking.k8s.io/v1", name, spec={**base, **spec})


def network_policies() -> list[Call]:
    dns = {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    lessonq = policy("lessonq-isolation", egress=[{"to": [{"podSelector": {}}]}, dns])
    bad_operator = {"matchExpressions": [{"key": "a", "operator": "Maybe"}]}
    return [
        post("np-create", POLICIES, lessonq),
        post("np-bad-policy-type", POLICIES, policy("badtype", policyTypes=["Sideways"])),
        post(
            "np-bad-protocol",
            POLICIES,
            policy("protocol", egress=[{"ports": [{"protocol": "ICMP", "port": 1}]}]),
        ),
        post("np-bad-operator", POLICIES, policy("operator", podSelector=bad_operator)),
        post(
            "np-bad-cidr",
            POLICIES,
            policy("badcidr", egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]),
        ),
        patch(
            "np-patch-strategic",
            POLICIES + "/lessonq-isolation",
            {"spec": {"policyTypes": ["Egress", "Ingress"]}},
            STRATEGIC,
        ),
    ]


def ingress(name: str, **spec: Any) -> JSON:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    host = "r1.lessons.example.com"
    rule = {
        "host": host,
        "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
    }
    base = {"rules": [rule], "tls": [{"hosts": [host], "secretName": "presentation-tls"}]}
    return obj("Ingress", "networking.k8s.io/v1", name, spec={**base, **spec})


def ingresses() -> list[Call]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}

    def rules(host: str = "a.example.com", **entry: Any) -> list[JSON]:
        return [{"host": host, "http": {"paths": [{"backend": backend, **entry}]}}]

    both_ports = {"service": {"name": "web", "port": {"number": 80, "name": "http"}}}
    return [
        post("ing-create", INGRESSES, ingress("r1-http", ingressClassName="nginx")),
        post(
            "ing-relative-path",
            INGRESSES,
            ingress("relative", rules=rules(path="docs", pathType="Prefix")),
        ),
        post(
            "ing-bad-path-type",
            INGRESSES,
            ingress("pathtype", rules=rules(path="/", pathType="Glob")),
        ),
        post(
            "ing-bad-host",
            INGRESSES,
            ingress("badhost", rules=rules("Bad_Host", path="/", pathType="Exact")),
        ),
        post("ing-empty-spec", INGRESSES, obj("Ingress", "networking.k8s.io/v1", "empty", spec={})),
        post(
            "ing-both-port-kinds", INGRESSES, ingress("ports", rules=[], defaultBackend=both_ports)
        ),
    ]


# jobs


def job(name: str, restart: str = "Never", **spec: Any) -> JSON:
    template = {
        "metadata": {"labels": {"lessonq.io/configures": "r1"}},
        "spec": {
            "restartPolicy": restart,
            "automountServiceAccountToken": False,
            "containers": [container("configure", "configurator", command=["python", "/x.py"])],
        },
    }
    return obj("Job", "batch/v1", name, spec={"backoffLimit": 3, "template": template, **spec})


def jobs() -> list[Call]:
    configure = JOBS + "/configure-r1-s0-g1"
    return [
        post("job-create", JOBS, job("configure-r1-s0-g1")),
        post("job-restart-always", JOBS, job("always", restart="Always")),
        post("job-negative-backoff", JOBS, job("negative", backoffLimit=-1)),
        post("job-unasked-selector", JOBS, job("selector", selector={"matchLabels": {"a": "b"}})),
        get("job-list-field", JOBS, fieldSelector="status.successful=1"),
        patch(
            "job-patch-template",
            configure,
            {"spec": {"template": {"metadata": {"labels": {"changed": "yes"}}}}},
        ),
        delete("job-delete", configure, propagationPolicy="Background"),
    ]


# custom resources, events, runtime classes


def nad(name: str, config: Any) -> JSON:
    return obj("NetworkAttachmentDefinition", "k8s.cni.cncf.io/v1", name, spec={"config": config})


def network_attachments() -> list[Call]:
    config = json.dumps(
        {"cniVersion": "0.3.1", "name": "r1-r2", "type": "bridge", "bridge": "r1-r2", "ipam": {}},
        sort_keys=True,
    )
    link = NADS + "/r1-r2"
    return [
        post("nad-create", NADS, nad("r1-r2", config)),
        post("nad-bad-name", NADS, nad("R1_R2", config)),
        post("nad-config-not-string", NADS, nad("notstring", {"cniVersion": "0.3.1"})),
        # pruned by v1.20, refused by kubesim's Strict default (README); out of {ns}'s lists
        post(
            "nad-unknown-field",
            NADS.replace("{ns}", "{other}"),
            {**nad("unknown", config), "extra": 1},
        ),
        get("nad-list-label", NADS, labelSelector="a notin (b)"),
        get("nad-list-field-unsupported", NADS, fieldSelector="spec.config=x"),
        patch("nad-patch-strategic", link, {"metadata": {"annotations": {"a": "c"}}}, STRATEGIC),
        patch("nad-patch-bad-label", link, {"metadata": {"labels": {"a": "-b-"}}}),
        put(
            "nad-update-stale",
            link,
            {**nad("r1-r2", config), "metadata": {"name": "r1-r2", "resourceVersion": "1"}},
        ),
        put("nad-put-collection", NADS, nad("r1-r2", config)),
        get(
            "nad-wrong-version",
            "/apis/k8s.cni.cncf.io/v2/namespaces/{ns}/network-attachment-definitions",
        ),
        delete("nad-delete", link),
    ]


def event(name: str, namespace: str, **rest: Any) -> JSON:
    involved = {"kind": "Pod", "name": "r1", "namespace": namespace, "apiVersion": "v1"}
    # a reason no kubelet gives: the lists below see only these events
    body = {
        "involvedObject": involved,
        "reason": "Rehearsed",
        "message": "m",
        "type": "Normal",
        **rest,
    }
    return obj("Event", "v1", name, **body)


def events(names: Names) -> list[Call]:
    return [
        post("event-create", EVENTS, event("r1.1", names.ns)),
        post("event-wrong-namespace", EVENTS, event("r1.2", names.other)),
        get("event-list-reason", EVENTS, fieldSelector="reason=Rehearsed,involvedObject.name=r1"),
    ]


def runtime_classes(names: Names) -> list[Call]:
    kata = {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": names.runtime_class, "labels": names.label},
        "handler": "kata",
    }
    bad = {**kata, "metadata": {"name": f"{names.runtime_class}-x"}, "handler": "Bad_Handler"}
    return [
        post("rc-create", RUNTIME_CLASSES, kata),
        post("rc-bad-handler", RUNTIME_CLASSES, bad),
        patch("rc-patch-handler", f"{RUNTIME_CLASSES}/{names.runtime_class}", {"handler": "runc"}),
        post("pod-create-runtime-class", PODS, pod("kata", runtimeClassName=names.runtime_class)),
    ]


# namespaces


def namespace(name: str, labels: JSON) -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def namespaces(names: Names) -> list[Call]:
    doomed = NAMESPACES + "/{doomed}"
    return [
        post("ns-create", NAMESPACES, namespace(names.doomed, names.label)),
        post("ns-bad-name", NAMESPACES, namespace("Diff_Bad", {})),
        post("ns-no-name", NAMESPACES, {"metadata": {}}),
        get("ns-list-label", NAMESPACES, labelSelector=f"diff-run={names.run}"),
        patch("ns-patch-bad-label", doomed, {"metadata": {"labels": {"x": "not valid"}}}),
        delete("ns-deletecollection", NAMESPACES),
        delete("ns-delete-wrong-uid", doomed, {"preconditions": {"uid": NO_UID}}),
        delete("ns-delete", doomed),
        post(
            "ns-create-in-terminating", "/api/v1/namespaces/{doomed}/configmaps", config_map("late")
        ),
    ]


# paths


def paths() -> list[Call]:
    return [
        get("path-unknown-group", "/apis/nope.example.com/v1/things"),
        get("path-unknown-resource", "/api/v1/namespaces/{ns}/widgets"),
        get("path-unknown-version", "/apis/batch/v9/namespaces/{ns}/jobs"),
        get("path-nonresource", "/nothing/here"),
        get("path-cluster-kind-in-namespace", "/api/v1/namespaces/{ns}/nodes"),
        post("path-create-without-namespace", "/api/v1/configmaps", config_map("nowhere")),
    ]


# watches


def watches() -> list[Call]:
    def watch(id: str, path: str, **query: str) -> Call:
        return get(id, path, watch="true", timeoutSeconds=WATCH_SECONDS, **query)

    return [
        get("watch-list-rv", POLICIES),
        watch("watch-from-current", POLICIES, resourceVersion="<rv:watch-list-rv>"),
        watch("watch-from-1", RUNTIME_CLASSES, resourceVersion="1"),
        watch("watch-from-zero", PODS, resourceVersion="0", labelSelector="app=web"),
        watch("watch-field-name", PODS, fieldSelector="metadata.name=r1"),
        watch("watch-bad-rv", PODS, resourceVersion="yesterday"),
        watch("watch-bad-field", PODS, fieldSelector="spec.image=x"),
    ]


def corpus(names: Names) -> list[Call]:
    """Every request in order, its paths and query values filled with the run's names."""
    calls = [
        *runtime_classes(names),
        *pods(),
        *malformed_pods(names),
        *services(),
        *config_maps(),
        *secrets(),
        *network_policies(),
        *ingresses(),
        *jobs(),
        *network_attachments(),
        *events(names),
        *watches(),
        *pod_deletes(),
        *namespaces(names),
        *paths(),
    ]
    return [
        Call(
            c.id,
            c.method,
            names.fill(c.path),
            c.body,
            {key: names.fill(value) for key, value in c.query.items()},
            c.content_type,
        )
        for c in calls
    ]
