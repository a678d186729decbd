"""Pydantic models of the NRE Labs curriculum formats: `lesson.meta.yaml` and `image.meta.yaml`.

Attributes are snake_case; the YAML keys are the format's camelCase names. Unknown keys are an
error rather than silently dropped, since a misspelt key (`endpoint:`) would otherwise vanish.
Rules that span several fields (unique names, links between existing endpoints) are reported
as one `lesson_rules` error whose context lists every issue with its own path, so that the
curriculum loader can name each field (see `RULES_ERROR`).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from lessons.naming import (
    DNS1123_LABEL_MAX,
    GUIDE_NAME,
    IFNAMSIZ_MAX,
    is_dns1035_label,
    is_dns1123_label,
    safe_repr,
)
from lessons.quantity import parse_quantity

# The error type of the cross-field rules; its context holds `issues`: [(path, message), ...],
# each path relative to the model that raised it.
RULES_ERROR = "lesson_rules"

FieldPath = tuple[str | int, ...]
Issue = tuple[FieldPath, str]


class Flavor(StrEnum):
    """How much an image is trusted; decides the pod's security context."""

    TRUSTED = "trusted"  # privileged + NET_ADMIN
    UNTRUSTED = "untrusted"  # NET_ADMIN, not privileged, sandboxed runtime class
    LEGACY = "legacy"  # NET_ADMIN, not privileged


class Category(StrEnum):
    FUNDAMENTALS = "fundamentals"
    TOOLS = "tools"
    WORKFLOWS = "workflows"


class Tier(StrEnum):
    """How far along a lesson is; an instance serves its own tier and the ones above it.

    Declared from the top: `prod` lessons are served everywhere, `ptr` (public test) ones by
    ptr and local instances, `local` ones only by local (development) instances.
    """

    PROD = "prod"
    PTR = "ptr"
    LOCAL = "local"

    def serves(self, tier: Tier | None) -> bool:
        """Whether an instance serving this tier serves a lesson of `tier` (None counts as
        prod, as in Antidote)."""
        order = list(Tier)
        return order.index(tier or Tier.PROD) <= order.index(self)


class GuideType(StrEnum):
    MARKDOWN = "markdown"
    JUPYTER = "jupyter"


class PresentationType(StrEnum):
    SSH = "ssh"  # a terminal
    HTTP = "http"  # a web page


# --- single-value rules -------------------------------------------------------------------


def _refuse(value: object, why: str) -> ValueError:
    """A ValueError quoting `value` safely (escaped, truncated): inline lessons are user input."""
    return ValueError(f"{safe_repr(value)} {why}")


def _label_rule(what: str, valid: Callable[[str], bool], rule: str) -> Callable[[str], str]:
    """A validator for names that end up as DNS labels: the length first, then the shape."""

    def check(value: str) -> str:
        if len(value) > DNS1123_LABEL_MAX:
            raise _refuse(
                value,
                f"is {len(value)} characters long; a {what} may have at most {DNS1123_LABEL_MAX}",
            )
        if not valid(value):
            raise _refuse(value, f"is not a valid {what}: {rule}")
        return value

    return check


_slug = _label_rule(
    "slug",
    is_dns1123_label,
    "use lowercase letters, digits and '-', starting and ending with a letter or digit",
)
# A Service is named after each endpoint, and Service names are DNS-1035 labels.
_endpoint_name = _label_rule(
    "endpoint name",
    is_dns1035_label,
    "use lowercase letters, digits and '-', starting with a letter and ending with a letter or "
    "digit (a Service is named after it)",
)


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"port must be between 1 and 65535, got {value}")
    return value


_CONFIGURATION_TYPE = re.compile(r"napalm(-[a-z][a-z0-9_]*)?|python|ansible")


def _configuration_type(value: str) -> str:
    if not _CONFIGURATION_TYPE.fullmatch(value):
        raise _refuse(
            value,
            "is not a configuration type: use napalm, napalm-<driver> (e.g. napalm-junos), "
            "python or ansible",
        )
    return value


def _subnet(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _refuse(value, "is not a CIDR subnet such as 10.0.0.0/24") from None
    address, _, prefix = value.partition("/")
    if not prefix:
        raise _refuse(value, "has no prefix length; write a subnet like 10.0.0.0/24")
    if ipaddress.ip_address(address) != network.network_address:
        raise _refuse(value, f"has host bits set; did you mean {network}?")
    if len(subnet_hosts(value)) < 2:
        raise _refuse(value, "has no room for the two ends of a link")
    return value


def subnet_hosts(subnet: str) -> list[str]:
    """The first two host addresses of a subnet, in CIDR form: endpoint a's, then b's."""
    network = ipaddress.ip_network(subnet, strict=False)
    return [f"{host}/{network.prefixlen}" for host in itertools.islice(network.hosts(), 2)]


# Linux refuses empty names, '.', '..', and any '/', ':' or whitespace (dev_valid_name).
_BAD_IFNAME_CHARS = re.compile(r"[/:\s]")
# The pod's own network already uses these inside every pod.
_RESERVED_IFNAMES = frozenset({"eth0", "lo"})


def _interface_name(value: str) -> str:
    if not value or value in (".", "..") or len(value) > IFNAMSIZ_MAX:
        raise _refuse(value, f"is not a Linux interface name: use 1-{IFNAMSIZ_MAX} characters")
    if _BAD_IFNAME_CHARS.search(value):
        raise _refuse(value, "is not a Linux interface name: no '/', ':' or whitespace")
    if value in _RESERVED_IFNAMES:
        raise _refuse(value, "is already used inside every pod; pick another interface name")
    return value


# Image references, from the grammar of github.com/distribution/reference.
_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::{_TAG})?(?:@{_DIGEST})?",
    re.ASCII,
)
_NAME_MAX = 255


def is_image_reference(image: str) -> bool:
    """Whether an endpoint's image is meant as a full reference rather than an image slug."""
    return any(c in image for c in "/:@")


def _image(value: str) -> str:
    if is_image_reference(value):
        match = _REFERENCE.fullmatch(value)
        if match is None or len(match["name"]) > _NAME_MAX:
            raise _refuse(value, "is not a valid image reference")
    elif not is_dns1123_label(value):
        raise _refuse(
            value,
            "is neither an image slug (lowercase letters, digits and '-') nor a full image "
            "reference such as registry.example.com/team/router:1.0",
        )
    return value


def _number_as_text(value: object) -> object:
    """YAML reads `cpu: 1` or `cpu: 0.5` as a number: a quantity all the same."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _cpu(value: str) -> str:
    if parse_quantity(value) < 0:
        raise _refuse(value, "is negative; a request is 0 or more")
    return value


def _memory(value: str) -> str:
    amount = parse_quantity(value)
    if amount < 0:
        raise _refuse(value, "is negative; a request is 0 or more")
    if amount % 1:
        hint = f" (m is a thousandth: did you mean {value[:-1]}Mi?)" if value.endswith("m") else ""
        raise _refuse(value, f"is not a whole number of bytes{hint}")
    return value


CpuQuantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_cpu)]
MemoryQuantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_memory)]
Slug = Annotated[str, AfterValidator(_slug)]
Port = Annotated[int, Strict(), AfterValidator(_port)]
Text = Annotated[str, Field(min_length=1)]


# --- models -------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def _raise_issues(issues: list[Issue]) -> None:
    if issues:
        summary = "; ".join(f"{'.'.join(map(str, path))}: {message}" for path, message in issues)
        raise PydanticCustomError(RULES_ERROR, "{summary}", {"summary": summary, "issues": issues})


def _duplicates(values: list[str], field: str, what: str) -> list[Issue]:
    """An issue for every repeat of an earlier value in `values`."""
    first: dict[str, int] = {}
    issues: list[Issue] = []
    for index, value in enumerate(values):
        if value in first:
            issues.append(
                (
                    (index, field) if field else (index,),
                    f"duplicate {what} {safe_repr(value)} (first at index {first[value]})",
                )
            )
        first.setdefault(value, index)
    return issues


class Presentation(_Model):
    """A way into an endpoint shown to the learner: a terminal (ssh) or a web page (http)."""

    name: Text
    port: Port
    type: PresentationType


class Endpoint(_Model):
    name: Annotated[str, AfterValidator(_endpoint_name)]
    image: Annotated[str, AfterValidator(_image)]
    configuration_type: Annotated[str, AfterValidator(_configuration_type)] | None = None
    additional_ports: list[Port] = []
    presentations: list[Presentation] = []

    @model_validator(mode="after")
    def _unique_presentations(self) -> Endpoint:
        issues = _duplicates([p.name for p in self.presentations], "name", "presentation name")
        _raise_issues([(("presentations", *path), message) for path, message in issues])
        return self


class Connection(_Model):
    """A point-to-point link between two endpoints; with a subnet, both ends get an address."""

    a: str
    b: str
    subnet: Annotated[str, AfterValidator(_subnet)] | None = None
    # Both ends and the bridge; jumbo frames for lessons that need them.
    mtu: Annotated[int, Strict(), Field(ge=68, le=65535)] | None = None

    @property
    def key(self) -> frozenset[str]:
        """The link regardless of direction: a-b and b-a are the same link."""
        return frozenset((self.a, self.b))


class Stage(_Model):
    description: Text
    guide_type: GuideType = GuideType.MARKDOWN
    stage_video: str | None = None


class Author(_Model):
    name: Text
    link: str | None = None


class Lesson(_Model):
    name: Text
    slug: Slug
    category: Category | None = None
    tier: Tier | None = None
    description: str = ""
    short_description: str = ""
    diagram: str | None = None
    video: str | None = None
    collection: str | None = None
    prereqs: list[Slug] = []
    tags: list[str] = []
    authors: list[Author] = []
    ready_delay: Annotated[int, Strict(), Field(ge=0)] = 0
    # Antidote's knob: the lesson's pods may reach beyond its namespace (the Internet).
    allow_egress: Annotated[bool, Strict()] = False
    endpoints: Annotated[list[Endpoint], Field(min_length=1)]
    connections: list[Connection] = []
    stages: list[Stage] = []

    @model_validator(mode="after")
    def _wiring(self) -> Lesson:
        names = [endpoint.name for endpoint in self.endpoints]
        issues = [
            (("endpoints", *path), message)
            for path, message in _duplicates(names, "name", "endpoint name")
        ]
        if self.has_jupyter_guide:
            issues += [
                (
                    ("endpoints", index, "name"),
                    f"{GUIDE_NAME!r} is the name of the lesson's Jupyter guide (a stage has "
                    "guideType jupyter); name the endpoint otherwise",
                )
                for index, name in enumerate(names)
                if name == GUIDE_NAME
            ]
        known = set(names)
        seen: dict[frozenset[str], int] = {}
        for index, link in enumerate(self.connections):
            where: FieldPath = ("connections", index)
            bad_ends = [
                (end, name) for end, name in (("a", link.a), ("b", link.b)) if name not in known
            ]
            for end, name in bad_ends:
                issues.append(((*where, end), f"unknown endpoint {safe_repr(name)}"))
            if link.a == link.b:
                issues.append(((*where, "b"), f"connects endpoint {safe_repr(link.a)} to itself"))
            elif link.key in seen and not bad_ends:
                issues.append(
                    (
                        where,
                        f"duplicates connections[{seen[link.key]}] "
                        f"({link.a}-{link.b}; a link has no direction)",
                    )
                )
            seen.setdefault(link.key, index)
        _raise_issues(issues)
        return self

    @property
    def stage_count(self) -> int:
        """The stages a learner can be at: a lesson that lists none still has its stage 0."""
        return max(len(self.stages), 1)

    @property
    def has_jupyter_guide(self) -> bool:
        """Whether a stage's guide is a Jupyter notebook: the lesson gets a notebook server."""
        return any(stage.guide_type is GuideType.JUPYTER for stage in self.stages)

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint called `name`; KeyError when there is none."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(f"lesson {self.slug!r} has no endpoint {name!r}")

    def links_of(self, name: str) -> list[int]:
        """Indexes into `connections` of the links of endpoint `name`, in connection order."""
        return [i for i, link in enumerate(self.connections) if name in (link.a, link.b)]

    def link_counts(self) -> Counter[str]:
        """How many links each endpoint has (endpoints without links are absent)."""
        return Counter(end for link in self.connections for end in (link.a, link.b))


class Requests(_Model):
    """What the pod of an endpoint using an image asks the scheduler for, as Kubernetes
    quantities: its container's resources.requests (a lessonq extension of image.meta.yaml)."""

    cpu: CpuQuantity | None = None
    memory: MemoryQuantity | None = None

    def resource_list(self) -> dict[str, str]:
        """The requests as a container's resources.requests: only those given."""
        return {
            name: quantity
            for name, quantity in (("cpu", self.cpu), ("memory", self.memory))
            if quantity is not None
        }


class Image(_Model):
    slug: Slug
    description: str = ""
    flavor: Flavor = Flavor.UNTRUSTED
    enable_forwarding: Annotated[bool, Strict()] = False
    # Interface names for the lesson links, in order; empty means net1, net2, ... without limit.
    network_interfaces: list[Annotated[str, AfterValidator(_interface_name)]] = []
    ssh_user: str | None = None
    ssh_password: str | None = None
    config_user: str | None = None
    config_password: str | None = None
    # lessonq's: the resource requests of each endpoint's pod (None: it asks for none).
    requests: Requests | None = None

    @model_validator(mode="after")
    def _unique_interfaces(self) -> Image:
        issues = _duplicates(self.network_interfaces, "", "interface name")
        _raise_issues([(("networkInterfaces", *path), message) for path, message in issues])
        return self
