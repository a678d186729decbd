"""The nodes' kubelets: resource and sysctl admission, pod sandbox through Multus, image pulls,
container runs, restarts with back-off, readiness, and graceful termination, on the image
profiles' clock."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from typing import Any

from kubesim import multus
from kubesim.addresses import PodAddresses, node_address
from kubesim.api import type_key
from kubesim.capacity import insufficient, pod_requests
from kubesim.clock import Ids, timestamp
from kubesim.config import ImageProfile, SimConfig, profile_for
from kubesim.events import EventRecorder
from kubesim.loop import Loop
from kubesim.nodeapi import NodeApi
from kubesim.podstatus import FINISHED, condition_of, ready_condition, set_condition
from kubesim.resources import PODS
from kubesim.store import Change

JSON = dict[str, Any]
COMPONENT = "kubelet"
NAD_KEY = (multus.NAD_GROUP, multus.NAD_PLURAL)

# the kubelet's safe sysctls (pkg/kubelet/sysctl/safe_sysctls.go)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
PULL_RETRY_SECONDS = 1.0
CRASH_RUN_SECONDS = 1.0
FAILING = ("fail", "crash")  # outcomes whose process exits 1
# nestedpendingoperations' exponential back-off for a failed volume operation
MOUNT_RETRY_START, MOUNT_RETRY_MAX = 0.5, 122.0
CONFIG_RETRY_SECONDS = 10.0  # the pod worker's back-off after a sync that failed
# volume sources set up from an object: (field, its name field, resource, missing-key error)
VOLUME_OBJECTS = (
    ("configMap", "name", "configmaps", "configmap references non-existent config key: "),
    ("secret", "secretName", "secrets", "references non-existent secret key: "),
)
ENV_OBJECTS = (
    ("configMapKeyRef", "configmaps", "ConfigMap"),
    ("secretKeyRef", "secrets", "Secret"),
)
ENV_FROM_OBJECTS = (("configMapRef", "configmaps"), ("secretRef", "secrets"))


def backoff(attempt: int, start: float = BACKOFF_START, cap: float = BACKOFF_MAX) -> float:
    """`start` doubling from the second attempt on, at most `cap`."""
    # the exponent is capped: 2**1100 is past what a float holds, and long past the maximum
    return float(min(start * 2 ** min(max(attempt - 1, 0), 32), cap))


def full_image(image: str) -> str:
    first = image.split("/", 1)[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    return image if "." in first or ":" in first or first == "localhost" else f"docker.io/{image}"


@dataclass
class ContainerRun:
    name: str
    image: str
    init: bool
    profile: ImageProfile
    readiness_delay: float | None  # simulated seconds after start; None: no readiness probe
    state: str = "waiting"
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int = 0
    started_at: str = ""
    finished_at: str = ""
    ready: bool = False
    restarts: int = 0
    pull_attempts: int = 0
    pulled: bool = False
    last_terminated: JSON | None = None
    container_id: str = ""
    epoch: int = 0  # bumped at every start so stale timers do nothing

    @property
    def field_path(self) -> str:
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    def image_id(self) -> str:
        return f"{full_image(self.image)}@sha256:{hashlib.sha256(self.image.encode()).hexdigest()}"

    def terminated_state(self) -> JSON:
        return {
            "exitCode": self.exit_code,
            "reason": "Completed" if self.exit_code == 0 else "Error",
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": self.container_id,
        }

    def status(self) -> JSON:
        if self.state == "running":
            state: JSON = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": self.terminated_state()}
        else:
            state = {
                "waiting": {
                    "reason": self.reason,
                    **({"message": self.message} if self.message else {}),
                }
            }
        status: JSON = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id() if self.pulled else "",
            "ready": self.ready,
            "started": self.state == "running",
            "restartCount": self.restarts,
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


@dataclass
class PodRun:
    uid: str
    namespace: str
    name: str
    node: str
    restart_policy: str
    containers: list[ContainerRun]
    start_time: str = field(default_factory=timestamp)
    pod_ip: str = ""
    sandbox_ready: bool = False
    network_status: str = ""
    failure: tuple[str, str] | None = None  # (reason, message) of a rejected pod
    terminating: bool = False
    bridges: list[tuple[str, str]] = field(default_factory=list)  # (bridge, network)
    mount_failures: int = 0
    requests: dict[str, int] = field(default_factory=dict)  # capacity.pod_requests

    @property
    def inits(self) -> list[ContainerRun]:
        return [c for c in self.containers if c.init]

    @property
    def mains(self) -> list[ContainerRun]:
        return [c for c in self.containers if not c.init]

    def initialized(self) -> bool:
        return all(c.state == "terminated" and c.exit_code == 0 for c in self.inits)

    def will_restart(self, container: ContainerRun) -> bool:
        if container.state != "terminated":
            return True
        if self.restart_policy == "Always" and not container.init:
            return True
        return self.restart_policy != "Never" and container.exit_code != 0

    def phase(self) -> str:
        if self.failure:
            return "Failed"
        if any(
            c.init and c.state == "terminated" and c.exit_code and self.restart_policy == "Never"
            for c in self.containers
        ):
            return "Failed"
        mains = self.mains
        if all(not self.will_restart(c) for c in mains):
            return "Succeeded" if all(c.exit_code == 0 for c in mains) else "Failed"
        if self.initialized() and any(c.state == "running" or c.restarts for c in mains):
            return "Running"
        return "Pending"


class Kubelet:
    def __init__(
        self, config: SimConfig, api: NodeApi, events: EventRecorder, loop: Loop, ids: Ids
    ) -> None:
        self._config = config
        self._api = api
        self._events = events
        self._loop = loop
        self._ids = ids
        self._runs: dict[str, PodRun] = {}
        self._node_runs: dict[str, dict[str, PodRun]] = {}  # node -> {pod uid: run}
        self._waiting_network: set[str] = set()
        self._addresses = PodAddresses()
        self._bridges: dict[
            tuple[str, str], dict[str, str]
        ] = {}  # (node, bridge) -> {uid: network}

    def clear(self) -> None:
        self._runs.clear()
        self._node_runs.clear()
        self._waiting_network.clear()
        self._addresses.clear()
        self._bridges.clear()

    # reacting to the API

    def on_change(self, change: Change) -> None:
        if change.type_key == NAD_KEY:
            for uid in sorted(self._waiting_network):
                if uid in self._runs:
                    self._setup_sandbox(self._runs[uid])
            return
        if change.type_key != type_key(PODS):
            return
        pod = change.obj
        uid = pod["metadata"]["uid"]
        run = self._runs.get(uid)
        if change.type == "DELETED":
            if run is not None:
                self._forget(run)
        elif (
            run is None
            and pod["spec"].get("nodeName") in self._config.nodes  # no kubelet runs elsewhere
            and not pod["metadata"].get("deletionTimestamp")
        ):
            self._admit(pod)
        elif run is not None and pod["metadata"].get("deletionTimestamp") and not run.terminating:
            self._terminate(run, pod)
        elif run is not None and pod["spec"].get("readinessGates") and not run.terminating:
            self._reconcile_readiness(run)

    def _reconcile_readiness(self, run: PodRun) -> None:
        """HandlePodReconcile: a pod's status changed on the apiserver (a readiness gate's
        condition, written by someone else through pods/status): Ready is worked out again."""
        pod = self._pod(run)
        if pod is None or run.failure:
            return
        ready = ready_condition(pod, self._containers_ready(run))
        current = condition_of(pod, "Ready") or {}
        if any(current.get(k) != ready.get(k) for k in ("status", "reason", "message")):
            self._sync(run)

    def _pod(self, run: PodRun) -> JSON | None:
        pod = self._api.store.get(type_key(PODS), run.namespace, run.name)
        return pod if pod is not None and pod["metadata"]["uid"] == run.uid else None

    def _profile(self, image: str) -> ImageProfile:
        return profile_for(self._config.image_profiles, image)

    def _event(
        self,
        run: PodRun,
        kind: str,
        reason: str,
        message: str,
        container: ContainerRun | None = None,
        component: str = COMPONENT,
    ) -> None:
        pod = self._pod(run)
        if pod is not None:
            field_path = container.field_path if container else ""
            self._events.record(pod, kind, reason, message, component, run.node, field_path)

    def _later(
        self, seconds: float, run: PodRun, container: ContainerRun | None, action: Any
    ) -> None:
        """Run `action` after simulated `seconds` unless the pod or that container has moved on."""
        epoch = container.epoch if container else 0

        def fire() -> None:
            if (
                self._runs.get(run.uid) is run
                and not run.terminating
                and (container is None or container.epoch == epoch)
            ):
                action()

        self._loop.call_later(self._config.scaled(seconds), fire)

    # admission and sandbox

    def _admit(self, pod: JSON) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        containers = []
        for group, init in (("initContainers", True), ("containers", False)):
            for c in spec.get(group) or []:
                probe = c.get("readinessProbe")
                delay = (
                    None
                    if probe is None or init
                    else float(probe.get("initialDelaySeconds", 0)) + self._config.probe_seconds
                )
                containers.append(
                    ContainerRun(c["name"], c["image"], init, self._profile(c["image"]), delay)
                )
        for c in containers:
            if not c.init and any(i for i in containers if i.init):
                c.reason = "PodInitializing"
        run = PodRun(
            meta["uid"],
            meta["namespace"],
            meta["name"],
            spec["nodeName"],
            spec.get("restartPolicy", "Always"),
            containers,
        )
        run.requests = pod_requests(spec)
        on_node = self._node_runs.setdefault(run.node, {})
        # the kubelet's admission counts active pods only: finished ones hold no slot
        active = [other for other in on_node.values() if other.phase() not in FINISHED]
        self._runs[run.uid] = on_node[run.uid] = run
        rejection = self._rejection(run, spec, active)
        if rejection:
            reason, message = rejection
            run.failure = (reason, f"Pod was rejected: {message}")
            self._event(run, "Warning", reason, message)
            self._sync(run)
            return
        self._mount(run)

    # volumes and container configuration from ConfigMaps and Secrets

    def _mount(self, run: PodRun) -> None:
        """The volume manager sets up configMap and secret volumes before the sandbox; one whose
        object (or an item's key) is missing fails with a FailedMount event and is retried with
        the operation executor's back-off, so the pod waits in ContainerCreating."""
        pod = self._pod(run)
        if pod is None:
            return
        problems = self._volume_problems(pod)
        if not problems:
            self._setup_sandbox(run)
            return
        for volume, why in problems:
            message = f'MountVolume.SetUp failed for volume "{volume}" : {why}'
            self._event(run, "Warning", "FailedMount", message)
        run.mount_failures += 1
        delay = backoff(run.mount_failures, MOUNT_RETRY_START, MOUNT_RETRY_MAX)
        self._later(delay, run, None, lambda: self._mount(run))
        self._sync(run)

    def _volume_problems(self, pod: JSON) -> list[tuple[str, str]]:
        """(volume, error) for each configMap or secret volume that cannot be set up, in the
        words of the volume plugins and the kubelet's object managers."""
        namespace, problems = pod["metadata"]["namespace"], []
        for volume in pod["spec"].get("volumes") or []:
            for kind, name_field, plural, missing_key in VOLUME_OBJECTS:
                source = volume.get(kind)
                if not isinstance(source, dict):
                    continue
                optional = source.get("optional") is True
                name = str(source.get(name_field, ""))
                obj = self._api.store.get(("", plural), namespace, name)
                if obj is None:
                    if not optional:
                        problems.append((volume["name"], f'{plural[:-1]} "{name}" not found'))
                    continue
                keys = set(obj.get("data") or {}) | set(obj.get("binaryData") or {})
                absent = [item.get("key") for item in source.get("items") or []]
                absent = [key for key in absent if key not in keys]
                if absent and not optional:
                    problems.append((volume["name"], missing_key + str(absent[0])))
        return problems

    def _config_problem(self, run: PodRun, c: ContainerRun) -> str:
        """makeEnvironmentVariables: the ConfigMaps and Secrets a container's envFrom and env
        refer to, and their keys; the first missing one (not optional) stops the container."""
        pod = self._pod(run)
        if pod is None:
            return ""
        group = "initContainers" if c.init else "containers"
        spec: JSON = next((x for x in pod["spec"].get(group) or [] if x.get("name") == c.name), {})
        namespace = run.namespace
        for source in spec.get("envFrom") or []:
            for kind, plural in ENV_FROM_OBJECTS:
                ref = source.get(kind)
                if not isinstance(ref, dict):
                    continue
                name = str(ref.get("name", ""))
                found = self._api.store.get(("", plural), namespace, name)
                if found is None and ref.get("optional") is not True:
                    return f'{plural[:-1]} "{name}" not found'
        for var in spec.get("env") or []:
            value_from = var.get("valueFrom") or {}
            for ref_field, plural, kind in ENV_OBJECTS:
                ref = value_from.get(ref_field)
                if not isinstance(ref, dict):
                    continue
                name, key = str(ref.get("name", "")), str(ref.get("key", ""))
                optional = ref.get("optional") is True
                obj = self._api.store.get(("", plural), namespace, name)
                if obj is None:
                    if optional:
                        continue
                    return f'{plural[:-1]} "{name}" not found'
                if key not in (obj.get("data") or {}) and not optional:
                    return f"couldn't find key {key} in {kind} {namespace}/{name}"
        return ""

    def _create(self, run: PodRun, c: ContainerRun) -> None:
        """Create the container once its configuration resolves; until then it waits in
        CreateContainerConfigError, tried again at each of the pod worker's retries."""
        problem = self._config_problem(run, c)
        if not problem:
            self._run(run, c)
            return
        if (c.reason, c.message) != ("CreateContainerConfigError", problem):
            c.reason, c.message = "CreateContainerConfigError", problem
            self._sync(run)
        self._event(run, "Warning", "Failed", f"Error: {problem}", c)
        self._later(CONFIG_RETRY_SECONDS, run, c, lambda: self._create(run, c))

    def _rejection(self, run: PodRun, spec: JSON, active: list[PodRun]) -> tuple[str, str] | None:
        """The kubelet's admission: (reason, message) when it refuses the pod; of the resources
        the node lacks (only pods bound past the scheduler get here), the first."""
        used: dict[str, int] = {}
        for other in active:
            for name, value in other.requests.items():
                used[name] = used.get(name, 0) + value
        allocatable = self._config.allocatable_amounts(run.node)
        missing = insufficient(allocatable, used, len(active), run.requests)
        if missing:
            name, requested, in_use, capacity = missing[0]
            return f"OutOf{name}", (
                f"Node didn't have enough resource: {name}, requested: {requested}, "
                f"used: {in_use}, capacity: {capacity}"
            )
        forbidden = self._forbidden_sysctl(spec)
        if forbidden:
            return "SysctlForbidden", f"forbidden sysctl: {forbidden}"
        return None

    def _forbidden_sysctl(self, spec: JSON) -> str:
        for sysctl in (spec.get("securityContext") or {}).get("sysctls") or []:
            name = sysctl.get("name", "")
            if name in SAFE_SYSCTLS:
                continue
            if any(
                fnmatch.fnmatchcase(name, allowed)
                for allowed in self._config.allowed_unsafe_sysctls
            ):
                continue
            return f'"{name}" not allowlisted'
        return ""

    def _setup_sandbox(self, run: PodRun) -> None:
        pod = self._pod(run)
        if pod is None or run.sandbox_ready:
            self._waiting_network.discard(run.uid)
            return
        annotation = (pod["metadata"].get("annotations") or {}).get(multus.NETWORKS_ANNOTATION, "")
        attachments: list[multus.Attachment] = []
        if self._config.multus and annotation:
            try:
                attachments = multus.attach(annotation, run.namespace, self._definition)
            except multus.SandboxError as exc:
                self._waiting_network.add(run.uid)
                sandbox = self._ids.hex(64)
                self._event(
                    run,
                    "Warning",
                    "FailedCreatePodSandBox",
                    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to "
                    f'setup network for sandbox "{sandbox}": plugin type="multus" '
                    'name="multus-cni-network" failed (add): '
                    + exc.detail(f"{run.namespace}/{run.name}/{run.uid}"),
                )
                self._sync(run)
                return
        self._waiting_network.discard(run.uid)
        run.pod_ip = self._addresses.allocate(self._node_index(run.node))
        run.sandbox_ready = True
        if self._config.multus:
            run.network_status = multus.network_status(run.pod_ip, self._ids.mac, attachments)
            added = [f"Add eth0 [{run.pod_ip}/24] from {multus.DEFAULT_NETWORK}"]
            for attachment in attachments:
                ips = ",".join(attachment.ips)
                added.append(
                    f"Add {attachment.selection.interface} [{ips}] from {attachment.network}"
                )
            for message in added:
                self._event(run, "Normal", "AddedInterface", message, component="multus")
            self._check_bridges(run, attachments)
        self._start_next(run)  # syncs the status as the first pull starts

    def _definition(self, namespace: str, name: str) -> JSON | None:
        return self._api.store.get(NAD_KEY, namespace, name)

    def _node_index(self, node: str) -> int:
        return self._config.nodes.index(node)  # only the configured nodes run a kubelet

    def _check_bridges(self, run: PodRun, attachments: list[multus.Attachment]) -> None:
        """Bridges are node-local: definitions of two namespaces naming one bridge join segments."""
        for attachment in attachments:
            for bridge in attachment.bridges:
                users = self._bridges.setdefault((run.node, bridge), {})
                others = sorted(
                    {
                        net
                        for net in users.values()
                        if net.split("/")[0] != attachment.selection.namespace
                    }
                )
                if others:
                    self._event(
                        run,
                        "Warning",
                        "BridgeShared",
                        f'bridge "{bridge}" on node {run.node} is also used by '
                        f"network-attachment-definition {', '.join(others)}: "
                        f"{attachment.network} and it share one layer-2 segment",
                    )
                users[run.uid] = attachment.network
                run.bridges.append((bridge, attachment.network))

    # containers

    def _start_next(self, run: PodRun) -> None:
        pending_init = next(
            (c for c in run.inits if not (c.state == "terminated" and c.exit_code == 0)), None
        )
        if pending_init is not None:
            if pending_init.state == "waiting" and pending_init.epoch == 0:
                self._pull(run, pending_init)
            return
        for container in run.mains:
            if container.epoch == 0 and container.pull_attempts == 0:
                self._pull(run, container)

    def _pull(self, run: PodRun, c: ContainerRun) -> None:
        """Pull the image; a retry keeps ErrImagePull / ImagePullBackOff until it is over."""
        c.pull_attempts += 1
        if c.pull_attempts == 1:
            c.reason = "ContainerCreating"  # after PodInitializing, for a pod's main containers
        self._event(run, "Normal", "Pulling", f'Pulling image "{c.image}"', c)
        boot = c.profile.boot_seconds + self._ids.uniform(0, c.profile.jitter_seconds)
        self._later(boot, run, c, lambda: self._pulled(run, c, boot))
        self._sync(run)

    def _pulled(self, run: PodRun, c: ContainerRun, took: float) -> None:
        if c.profile.outcome == "pull-error":
            reference = full_image(c.image)
            why = (
                f'failed to pull and unpack image "{reference}": failed to resolve reference '
                f'"{reference}": {reference}: not found'
            )
            c.reason, c.message = "ErrImagePull", why
            self._event(run, "Warning", "Failed", f'Failed to pull image "{c.image}": {why}', c)
            self._event(run, "Warning", "Failed", "Error: ErrImagePull", c)
            self._sync(run)
            self._later(PULL_RETRY_SECONDS, run, c, lambda: self._pull_backoff(run, c))
            return
        c.pulled = True
        self._event(
            run, "Normal", "Pulled", f'Successfully pulled image "{c.image}" in {took:.3f}s', c
        )
        self._create(run, c)

    def _pull_backoff(self, run: PodRun, c: ContainerRun) -> None:
        c.reason, c.message = "ImagePullBackOff", f'Back-off pulling image "{c.image}"'
        self._event(run, "Normal", "BackOff", f'Back-off pulling image "{c.image}"', c)
        self._event(run, "Warning", "Failed", "Error: ImagePullBackOff", c)
        self._sync(run)
        self._later(backoff(c.pull_attempts), run, c, lambda: self._pull(run, c))

    def _run(self, run: PodRun, c: ContainerRun) -> None:
        c.epoch += 1
        c.state, c.reason, c.message = "running", "", ""
        c.started_at = timestamp()
        c.container_id = f"containerd://{self._ids.hex(64)}"
        c.ready = c.readiness_delay is None and not c.init
        self._event(run, "Normal", "Created", f"Created container: {c.name}", c)
        self._event(run, "Normal", "Started", f"Started container {c.name}", c)
        if c.readiness_delay is not None:
            if c.profile.outcome == "never-ready":
                self._later(
                    c.readiness_delay,
                    run,
                    c,
                    lambda: self._event(
                        run, "Warning", "Unhealthy", "Readiness probe failed: connection refused", c
                    ),
                )
            else:
                self._later(c.readiness_delay, run, c, lambda: self._became_ready(run, c))
        seconds = self._run_time(run, c)
        if seconds is not None:
            code = 1 if c.profile.outcome in FAILING else 0
            self._later(seconds, run, c, lambda: self._exited(run, c, code))
        self._sync(run)

    def _run_time(self, run: PodRun, c: ContainerRun) -> float | None:
        """Simulated seconds until the process exits; None: it runs until it is stopped."""
        profile = c.profile
        if profile.outcome == "hang":
            return None
        if profile.run_seconds is not None:
            return profile.run_seconds
        if profile.outcome == "crash":
            return CRASH_RUN_SECONDS  # a crash comes soon after start, whatever the pod
        if profile.outcome == "fail" or c.init or run.restart_policy != "Always":
            return self._config.completion_seconds  # work that ends, or fails at its end
        return None  # a service

    def _became_ready(self, run: PodRun, c: ContainerRun) -> None:
        if c.state == "running":
            c.ready = True
            self._sync(run)

    def _exited(self, run: PodRun, c: ContainerRun, code: int) -> None:
        c.state, c.exit_code, c.finished_at = "terminated", code, timestamp()
        c.ready = False
        if run.will_restart(c):
            c.restarts += 1
            c.last_terminated = c.terminated_state()
            if c.restarts == 1:  # no back-off yet: the kubelet restarts it at once the first time
                self._run(run, c)
                return
            delay = backoff(c.restarts - 1)
            c.epoch += 1
            c.state, c.reason = "waiting", "CrashLoopBackOff"
            pod = f"{run.name}_{run.namespace}({run.uid})"
            c.message = f"back-off {int(delay)}s restarting failed container={c.name} pod={pod}"
            self._event(
                run,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {c.name} in pod {pod}",
                c,
            )
            self._later(delay, run, c, lambda: self._run(run, c))
        elif c.init and code == 0:
            self._start_next(run)
        self._sync(run)

    # termination

    def _terminate(self, run: PodRun, pod: JSON) -> None:
        run.terminating = True
        for c in run.containers:
            if c.state == "running":
                self._events.record(
                    pod,
                    "Normal",
                    "Killing",
                    f"Stopping container {c.name}",
                    COMPONENT,
                    run.node,
                    c.field_path,
                )
        grace = pod["metadata"].get("deletionGracePeriodSeconds") or 0
        delay = self._config.scaled(min(self._config.termination_seconds, grace))
        self._loop.call_later(delay, lambda: self._finish_termination(run))

    def _finish_termination(self, run: PodRun) -> None:
        """The kubelet's final word: containers stopped, then the pod object goes (grace 0)."""
        for c in run.containers:
            if c.state == "running":
                c.state, c.exit_code, c.finished_at, c.ready = "terminated", 0, timestamp(), False
        with self._api.store.lock:
            if self._pod(run) is None:
                return

            def change(pod: JSON) -> None:
                self._render(run, pod)
                pod["metadata"]["deletionGracePeriodSeconds"] = 0

            self._api.mutate(PODS, run.namespace, run.name, change)

    def _forget(self, run: PodRun) -> None:
        self._runs.pop(run.uid, None)
        on_node = self._node_runs.get(run.node, {})
        on_node.pop(run.uid, None)
        if not on_node:
            self._node_runs.pop(run.node, None)
        self._waiting_network.discard(run.uid)
        self._addresses.release(self._node_index(run.node), run.pod_ip)
        for bridge, _ in run.bridges:
            users = self._bridges.get((run.node, bridge), {})
            users.pop(run.uid, None)
            if not users:
                self._bridges.pop((run.node, bridge), None)

    # status

    def _sync(self, run: PodRun) -> None:
        with self._api.store.lock:
            if self._pod(run) is not None:
                self._api.mutate(PODS, run.namespace, run.name, lambda pod: self._render(run, pod))

    def _render(self, run: PodRun, pod: JSON) -> None:
        status = pod.setdefault("status", {})
        phase = run.phase()
        status["phase"] = phase
        status["hostIP"] = node_address(self._node_index(run.node))
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        status["startTime"] = run.start_time
        status["observedGeneration"] = pod["metadata"].get("generation", 1)
        if run.failure:
            status["reason"], status["message"] = run.failure
            return
        if run.pod_ip:
            status["podIP"] = run.pod_ip
            status["podIPs"] = [{"ip": run.pod_ip}]
        if run.network_status:
            annotations = pod["metadata"].setdefault("annotations", {})
            annotations[multus.STATUS_ANNOTATION] = run.network_status
        if run.inits:
            status["initContainerStatuses"] = [c.status() for c in run.inits]
        status["containerStatuses"] = [c.status() for c in run.mains]
        set_condition(pod, {"type": "PodReadyToStartContainers", "status": str(run.sandbox_ready)})
        incomplete = [
            c.name for c in run.inits if not (c.state == "terminated" and c.exit_code == 0)
        ]
        set_condition(
            pod,
            _condition(
                "Initialized",
                not incomplete,
                "ContainersNotInitialized",
                "containers with incomplete status",
                incomplete,
            ),
        )
        containers_ready = self._containers_ready(run)
        set_condition(pod, containers_ready)
        set_condition(pod, ready_condition(pod, containers_ready))

    @staticmethod
    def _containers_ready(run: PodRun) -> JSON:
        unready = [c.name for c in run.mains if not c.ready]
        reason = "PodCompleted" if run.phase() in FINISHED else "ContainersNotReady"
        label = "containers with unready status"
        return _condition("ContainersReady", not unready, reason, label, unready)


def _condition(kind: str, ok: bool, reason: str, label: str, names: list[str]) -> JSON:
    if ok:
        return {"type": kind, "status": "True"}
    condition = {"type": kind, "status": "False", "reason": reason}
    if reason != "PodCompleted":
        condition["message"] = f"{label}: [{' '.join(names)}]"
    return condition
