"""The one description of a simulated cluster: constructor arguments and CLI flags come from it."""

from __future__ import annotations

import argparse
import fnmatch
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kubesim.capacity import DEFAULT_ALLOCATABLE, amount
from kubesim.decoding import quantity_value

Outcome = Literal["ok", "fail", "crash", "hang", "pull-error", "never-ready"]


class ImageProfile(BaseModel):
    """How containers whose image matches `pattern` (fnmatch) behave on the simulated kubelet."""

    model_config = ConfigDict(extra="forbid")

    pattern: str
    boot_seconds: float = Field(2.0, ge=0, description="image pull plus start-up time")
    jitter_seconds: float = Field(0.5, ge=0, description="uniform extra 0..jitter, seeded")
    outcome: Outcome = Field(
        "ok",
        description="ok: exits 0 when it exits; fail: does its work, then exits 1; crash: exits 1 "
        "soon after start; hang: never exits; pull-error: its image never pulls; never-ready: "
        "runs, its readiness probe never passes",
    )
    run_seconds: float | None = Field(
        None,
        ge=0,
        description="how long the process runs before it exits (code 0, or 1 for fail and "
        "crash); None: a service runs until deleted, a run-to-completion container (and a fail) "
        "for completion_seconds, a crash for 1 s; a hang never exits",
    )
    output: str | list[str] | None = Field(
        None,
        description="what a started container prints (its log): a text, or lines; every run "
        "prints all of it at its start",
    )

    def log_text(self) -> str:
        """The output as the container's log holds it: lines end with a newline, a text is kept
        as it is (a last line without one stays partial, as a real log keeps it)."""
        if self.output is None:
            return ""
        if isinstance(self.output, str):
            return self.output
        return "".join(f"{line}\n" for line in self.output)


def profile_for(profiles: list[ImageProfile], image: str) -> ImageProfile:
    """The first profile whose pattern matches the image; the defaults when none does."""
    for profile in profiles:
        if fnmatch.fnmatchcase(image, profile.pattern):
            return profile
    return ImageProfile(pattern="*")


class FaultRule(BaseModel):
    """Injected failures for requests whose verb and resource match (`*` matches any)."""

    model_config = ConfigDict(extra="forbid")

    verb: str = "*"
    resource: str = "*"
    error_500: float = Field(0.0, ge=0, le=1)
    error_503: float = Field(0.0, ge=0, le=1)
    error_429: float = Field(0.0, ge=0, le=1)
    drop: float = Field(0.0, ge=0, le=1, description="close the connection without an answer")
    latency: float = Field(0.0, ge=0, description="seconds added to each matching request")
    retry_after: int = Field(1, ge=0, description="Retry-After seconds sent with a 429")


DEFAULT_PROFILES = (ImageProfile(pattern="*"),)


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _parse_json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


def _resource_items(items: list[str], what: str) -> dict[str, str]:
    found = {}
    for item in items:
        name, colon, quantity = item.partition(":")
        if not colon or not name.strip() or not quantity.strip():
            raise ValueError(f"{what}: {item!r} is not resource:quantity (e.g. cpu:4)")
        found[name.strip()] = quantity.strip()
    return found


def _parse_resources(value: Any) -> Any:
    """`cpu:4,memory:8Gi` (or a JSON object) into a resource list; numbers become quantities."""
    if isinstance(value, str):
        value = (
            json.loads(value)
            if value.lstrip().startswith("{")
            else _resource_items(_split_commas(value), "allocatable")
        )
    if isinstance(value, dict):
        return {name: str(quantity) for name, quantity in value.items()}
    return value


def _parse_node_resources(value: Any) -> Any:
    """`node-1=cpu:4,memory:8Gi,node-2=pods:10` (an item with `=` starts a node's resources, the
    items after it without one add to them), or a JSON object of resource lists, per node."""
    if isinstance(value, str):
        if value.lstrip().startswith("{"):
            value = json.loads(value)
        else:
            items: dict[str, list[str]] = {}
            node = None
            for item in _split_commas(value):
                name, equals, rest = item.partition("=")
                if equals:
                    node, item = name.strip(), rest
                if node is None:
                    raise ValueError(
                        f"node_allocatable: {item!r} names no node (e.g. node-1=cpu:4,memory:8Gi)"
                    )
                items.setdefault(node, []).append(item)
            value = {n: _resource_items(i, f"node_allocatable of {n}") for n, i in items.items()}
    if isinstance(value, dict):
        return {node: _parse_resources(resources) for node, resources in value.items()}
    return value


def _parse_node_seconds(value: Any) -> Any:
    """`node-1=5,node-2=0.5` (or a JSON object): simulated seconds per node."""
    if isinstance(value, str):
        if value.lstrip().startswith("{"):
            return json.loads(value)
        found = {}
        for item in _split_commas(value):
            node, equals, seconds = item.partition("=")
            if not equals or not node.strip():
                raise ValueError(f"link_agent_slow: {item!r} is not node=seconds (e.g. node-1=5)")
            found[node.strip()] = seconds.strip()
        return found
    return value


def _check_resources(resources: dict[str, str], what: str) -> None:
    for name, quantity in resources.items():
        value = quantity_value(quantity)
        if value is None or value < 0:
            raise ValueError(f"{what}: {name} {quantity!r} is not a non-negative quantity")
        if name != "cpu" and value % 1:
            raise ValueError(f"{what}: {name} {quantity!r} is not a whole number")


class SimConfig(BaseModel):
    """Every knob of the simulated cluster. Delays are in simulated seconds (times time_scale)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(0, ge=0, le=65535, description="port to listen on; 0 picks a free one")
    nodes: list[str] = Field(
        default_factory=lambda: ["node-1", "node-2", "node-3"], description="node names"
    )
    allocatable: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ALLOCATABLE),
        description="every node's allocatable (and capacity), what the scheduler fits pods' "
        "requests in: resource:quantity items, e.g. cpu:4,memory:8Gi,pods:20 (or a JSON object); "
        "resources not named keep their defaults (cpu 32, memory 128Gi, pods 110, "
        "ephemeral-storage 100Gi)",
    )
    node_allocatable: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="per-node changes to allocatable: node=resource:quantity, further "
        "resource:quantity items for the same node, e.g. node-1=cpu:2,memory:4Gi,node-3=pods:5 "
        "(or a JSON object of resource lists by node name)",
    )
    time_scale: float = Field(1.0, ge=0, description="factor applied to every simulated delay")
    seed: int = Field(0, description="seed for jitter, fault rolls, names and MAC addresses")
    multus: bool = Field(True, description="install the Multus NetworkAttachmentDefinition CRD")
    runtime_classes: list[str] = Field(
        default_factory=lambda: ["kata"], description="RuntimeClasses created at start"
    )
    allowed_unsafe_sysctls: list[str] = Field(
        default_factory=list, description="kubelet --allowed-unsafe-sysctls (patterns may end in *)"
    )
    image_profiles: list[ImageProfile] = Field(
        default_factory=lambda: list(DEFAULT_PROFILES),
        description="JSON list of image profiles; the first matching pattern wins",
    )
    probe_seconds: float = Field(1.0, ge=0, description="readiness probe time after its delay")
    namespace_delete_seconds: float = Field(
        2.0, ge=0, description="time a namespace lingers once its contents are gone"
    )
    termination_seconds: float = Field(
        1.0, ge=0, description="time a pod takes to stop, capped by its grace period"
    )
    completion_seconds: float = Field(
        1.0, ge=0, description="run time of a run-to-completion container whose profile has none"
    )
    api_latency: float = Field(
        0.0, ge=0, description="wall-clock seconds added to every API request (a remote apiserver)"
    )
    faults: list[FaultRule] = Field(default_factory=list, description="JSON list of fault rules")
    watch_window: int = Field(
        10_000, ge=1, description="events kept for watches; older resourceVersions get 410"
    )
    bookmark_seconds: float = Field(
        1.0, gt=0, description="wall-clock interval of BOOKMARK events on watches that ask"
    )
    kubeconfig: str | None = Field(None, description="write a kubeconfig for this server here")
    link_agent_seconds: float = Field(
        0.3,
        ge=0,
        description="time lessonq's node agent takes to wire a pod's links (set its "
        "lessonq.io/links-wired readiness gate) once its containers run",
    )
    link_agent_down: list[str] = Field(
        default_factory=list, description="nodes whose link agent never wires anything"
    )
    link_agent_slow: dict[str, float] = Field(
        default_factory=dict,
        description="extra wiring time per node: node=seconds items, e.g. node-1=5,node-2=0.5 "
        "(or a JSON object)",
    )
    link_agent_refused_vnis: list[int] = Field(
        default_factory=list,
        description="VXLAN VNIs the link agents refuse: a pod using a network-attachment-"
        "definition annotated lessonq.io/vni with one is never wired (a LinksNotWired event)",
    )

    _split = field_validator(
        "nodes",
        "runtime_classes",
        "allowed_unsafe_sysctls",
        "link_agent_down",
        "link_agent_refused_vnis",
        mode="before",
    )(_split_commas)
    _node_seconds = field_validator("link_agent_slow", mode="before")(_parse_node_seconds)
    _json = field_validator("image_profiles", "faults", mode="before")(_parse_json)
    _resources = field_validator("allocatable", mode="before")(_parse_resources)
    _node_resources = field_validator("node_allocatable", mode="before")(_parse_node_resources)

    @model_validator(mode="after")
    def _check_allocatable(self) -> SimConfig:
        _check_resources(self.allocatable, "allocatable")
        for node, resources in self.node_allocatable.items():
            if node not in self.nodes:
                raise ValueError(f"node_allocatable: {node} is not one of the nodes")
            _check_resources(resources, f"node_allocatable of {node}")
        for field, named in (
            ("link_agent_down", self.link_agent_down),
            ("link_agent_slow", list(self.link_agent_slow)),
        ):
            for node in named:
                if node not in self.nodes:
                    raise ValueError(f"{field}: {node} is not one of the nodes")
        for node, seconds in self.link_agent_slow.items():
            if seconds < 0:
                raise ValueError(f"link_agent_slow: {node} has a negative delay {seconds}")
        return self

    def allocatable_of(self, node: str) -> dict[str, str]:
        """A node's allocatable resource list: the defaults, `allocatable`, its own changes."""
        return {**DEFAULT_ALLOCATABLE, **self.allocatable, **self.node_allocatable.get(node, {})}

    def allocatable_amounts(self, node: str) -> dict[str, int]:
        """The same in the scheduler's units (cpu in millicores)."""
        return {
            name: amount(name, quantity) or 0
            for name, quantity in self.allocatable_of(node).items()
        }

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale


def build_arg_parser() -> argparse.ArgumentParser:
    """One flag per SimConfig field, so the CLI cannot drift from the constructor."""
    parser = argparse.ArgumentParser(
        prog="python -m kubesim", description="A Kubernetes API emulator."
    )
    for name, field in SimConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = field.description or ""
        if field.annotation is bool:
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text)
    return parser


def config_from_args(argv: list[str] | None = None) -> SimConfig:
    args = build_arg_parser().parse_args(argv)
    given = {name: value for name, value in vars(args).items() if value is not None}
    return SimConfig.model_validate(given)
