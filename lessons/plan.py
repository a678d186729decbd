"""The resolved plan of one live lesson: every name, image, port and address decided up front.

Every provisioning task works from this one JSON payload, so the steps never look at the
curriculum again and a redelivered task builds exactly what the first attempt did.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from lessons.configuration import ConfigurationKind, StageFile, kind_of, stage_file
from lessons.files import LessonFiles
from lessons.model import (
    Endpoint,
    Flavor,
    Image,
    Lesson,
    PresentationType,
    is_image_reference,
    subnet_hosts,
)
from lessons.naming import (
    ENDPOINT,
    GUIDE,
    GUIDE_NAME,
    INSTANCE,
    LESSON,
    LESSON_ID,
    MANAGED,
    SESSION,
    bridge_name,
    ingress_host,
    ingress_name,
    is_label_value,
    is_port_name,
    label_value,
    namespace_name,
    pool_namespace_name,
    safe_repr,
    validate_session_id,
)
from lessons.quantity import millicores, whole_units

if TYPE_CHECKING:
    from config import Settings

LinkMode = Literal["bridge", "overlay"]
# The notebook server's port in the Jupyter guide's pod.
JUPYTER_PORT = 8888


def _lesson_id(value: str) -> str:
    # Ownership checks compare the LESSON_ID label with the record's id, so it must be usable
    # as a label value unchanged.
    if not value or not is_label_value(value):
        raise ValueError(f"lesson_id {safe_repr(value)} is not a valid label value")
    return value


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PortPlan(_Plan):
    name: str
    port: int


class AttachmentPlan(_Plan):
    """One entry of a pod's Multus networks: which link, under which interface name."""

    link: str
    interface: str
    address: str | None = None


class ConfigurationPlan(_Plan):
    """How a Job configures one endpoint: with what, by which file at each stage, as whom."""

    kind: ConfigurationKind
    # Index: the stage.
    stages: list[StageFile]
    # The port napalm reaches the device on (its ssh presentation's, else 22).
    port: int
    # The image's configUser and configPassword: the Jobs read them from a Secret.
    user: str
    password: str


class IngressPlan(_Plan):
    """An Ingress publishing a web page of the lesson at `host`, to the Service of that name
    (an endpoint's, or the guide's) on `port`."""

    name: str
    host: str
    service: str
    port: int


class PresentationPlan(_Plan):
    """A way into an endpoint (its lesson.meta.yaml entry), and how it is reached."""

    name: str
    type: PresentationType
    port: int
    # http, with a presentation domain: published by an Ingress.
    ingress: IngressPlan | None = None
    # ssh: the image's sshUser and sshPassword, for the learner (None: the image has none).
    user: str | None = None
    password: str | None = None


class EndpointPlan(_Plan):
    name: str
    image: str
    flavor: Flavor
    enable_forwarding: bool
    ports: list[PortPlan]
    probe_port: int | None
    attachments: list[AttachmentPlan]
    configuration: ConfigurationPlan | None = None
    presentations: list[PresentationPlan] = []
    # The image's requests: the container's resources.requests (resource -> quantity).
    requests: dict[str, str] = {}


@dataclass(frozen=True)
class TotalRequests:
    """What a live lesson asks of the nodes: its pods' cpu and memory requests, and its pods."""

    cpu_millicores: int
    memory_bytes: int
    pods: int


def total_requests(plan: LessonPlan) -> TotalRequests:
    """The sum of the requests of the lesson's pods (its endpoints' and its guide's, as
    `LessonPlan.pods` lists them; the configuration Jobs' short-lived pods are not counted),
    cpu and memory rounded up as Kubernetes rounds them."""
    pods = pod_requests(plan)
    return TotalRequests(
        cpu_millicores=sum(pod.cpu_millicores for pod in pods),
        memory_bytes=sum(pod.memory_bytes for pod in pods),
        pods=len(plan.pods()),
    )


def pod_requests(plan: LessonPlan) -> list[TotalRequests]:
    """What each endpoint's pod asks for (rounded up as Kubernetes rounds): on an overlay the
    pods may spread over nodes, and the lesson fits when each of them fits some node."""
    return [
        TotalRequests(
            millicores(e.requests.get("cpu", "0")), whole_units(e.requests.get("memory", "0")), 1
        )
        for e in plan.endpoints
    ]


class GuidePlan(_Plan):
    """The lesson's Jupyter guide: a notebook server over the lesson's files, in a pod of its
    own and behind a Service of its own. It is not an endpoint: no links, not counted."""

    name: str = GUIDE_NAME
    image: str
    port: int = JUPYTER_PORT
    ingress: IngressPlan | None = None


class SecretRef(_Plan):
    namespace: str
    name: str


class LinkPlan(_Plan):
    index: int
    name: str
    a: str
    b: str
    bridge: str
    subnet: str | None = None
    mtu: int | None = None


class LessonPlan(_Plan):
    lesson_id: Annotated[str, AfterValidator(_lesson_id)]
    instance_id: str
    slug: str
    # None: a warm-pool lesson no session has claimed yet (``lessons.pool``).
    session_id: Annotated[str, AfterValidator(validate_session_id)] | None
    namespace: str
    ready_delay: int
    runtime_class: str | None
    endpoints: list[EndpointPlan]
    links: list[LinkPlan]
    # Stages 0 .. stage_count - 1 (a lesson without stages has stage 0).
    stage_count: int = 1
    # The lesson folder (``lessons.files``), mounted at /antidote: its version (None: the
    # lesson has no folder) and its files' paths (the contents travel apart, by version).
    files_version: str | None = None
    file_paths: list[str] = []
    configurator_image: str = ""
    # Egress beyond the namespace (allowEgress); else only to the cluster DNS pods: their
    # namespace and label.
    allow_egress: bool = False
    dns_namespace: str = "kube-system"
    dns_pod_label: dict[str, str] = {"k8s-app": "kube-dns"}
    guide: GuidePlan | None = None
    # The web pages' Ingresses: their class (None: the cluster's default), and the Secret of
    # their certificate, copied into the namespace (None: plain http).
    ingress_class: str | None = None
    tls_secret: SecretRef | None = None
    # How the links join the pods (LESSONQ_LINKS): `bridge`, all on one node; `overlay`, the
    # pods may spread over nodes, each link's bridges joined by VXLAN (``lessons.placement``).
    link_mode: LinkMode = "bridge"

    @property
    def overlay(self) -> bool:
        return self.link_mode == "overlay"

    def labels(self) -> dict[str, str]:
        """The labels of every object of this live lesson (a pool lesson's have no session
        until one claims it)."""
        labels = {MANAGED: "true", INSTANCE: self.instance_id, LESSON: self.slug}
        if self.session_id is not None:
            labels[SESSION] = label_value(self.session_id)
        labels[LESSON_ID] = self.lesson_id
        return labels

    def claimed_by(self, session_id: str) -> LessonPlan:
        """This pool lesson's plan once `session_id` has claimed it: only its session changes
        (its namespace, and every name hashed from it, stay)."""
        return self.model_validate({**self.model_dump(), "session_id": session_id})

    def endpoint_labels(self, name: str) -> dict[str, str]:
        """The labels of endpoint `name`'s pod: the lesson's plus the endpoint's name."""
        return {**self.labels(), ENDPOINT: name}

    def guide_labels(self) -> dict[str, str]:
        """The labels of the guide's pod: the lesson's, and not an endpoint's."""
        return {**self.labels(), GUIDE: GUIDE_NAME}

    def endpoint(self, name: str) -> EndpointPlan:
        """The endpoint called `name`; KeyError when there is none."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(f"plan {self.namespace!r} has no endpoint {name!r}")

    def pods(self) -> list[str]:
        """The pods the lesson waits for before it is READY: its endpoints', then its guide's."""
        guide = [self.guide.name] if self.guide is not None else []
        return [endpoint.name for endpoint in self.endpoints] + guide

    def ingresses(self) -> list[IngressPlan]:
        """Every web page's Ingress: the endpoints' http presentations, then the guide."""
        found = [p.ingress for e in self.endpoints for p in e.presentations if p.ingress]
        return found + ([self.guide.ingress] if self.guide and self.guide.ingress else [])

    def url(self, ingress: IngressPlan) -> str:
        return f"{'https' if self.tls_secret else 'http'}://{ingress.host}/"

    def configured(self) -> list[EndpointPlan]:
        """The endpoints a Job configures at every stage."""
        return [endpoint for endpoint in self.endpoints if endpoint.configuration is not None]


def _port_names(name: str | None, port: int) -> Iterator[str]:
    """Candidate names for a port, best first; the numbered ones never run out."""
    if name is not None and is_port_name(name):
        yield name
    yield f"port-{port}"
    counter = 1
    while True:
        counter += 1
        yield f"port-{port}-{counter}"


def _ports(endpoint: Endpoint) -> list[PortPlan]:
    """Presentation ports first (named after them), then additional ports; each port once."""
    wanted: list[tuple[str | None, int]] = [(p.name, p.port) for p in endpoint.presentations]
    wanted += [(None, port) for port in endpoint.additional_ports]
    ports: list[PortPlan] = []
    # Sets, not scans of `ports`: an inline lesson may list thousands of ports.
    numbers: set[int] = set()
    taken: set[str] = set()
    for name, port in wanted:
        if port in numbers:
            continue
        chosen = next(n for n in _port_names(name, port) if n not in taken)
        ports.append(PortPlan(name=chosen, port=port))
        numbers.add(port)
        taken.add(chosen)
    return ports


def _probe_port(endpoint: Endpoint) -> int | None:
    if endpoint.presentations:
        return endpoint.presentations[0].port
    return endpoint.additional_ports[0] if endpoint.additional_ports else None


def _presentations(
    endpoint: Endpoint, image: Image | None, namespace: str, settings: Settings
) -> list[PresentationPlan]:
    planned = []
    domain = settings.presentation_domain
    for presentation in endpoint.presentations:
        ingress: IngressPlan | None = None
        user: str | None = None
        password: str | None = None
        if presentation.type is PresentationType.HTTP and domain is not None:
            ingress = IngressPlan(
                name=ingress_name(endpoint.name, presentation.name),
                host=ingress_host(domain, namespace, endpoint.name, presentation.name),
                service=endpoint.name,
                port=presentation.port,
            )
        if presentation.type is PresentationType.SSH and image is not None:
            user, password = image.ssh_user, image.ssh_password
        planned.append(
            PresentationPlan(
                name=presentation.name,
                type=presentation.type,
                port=presentation.port,
                ingress=ingress,
                user=user,
                password=password,
            )
        )
    return planned


def _guide(
    lesson: Lesson, files: LessonFiles | None, namespace: str, settings: Settings
) -> GuidePlan | None:
    """The notebook server of a lesson with a Jupyter guide. It serves the lesson's folder: a
    lesson without one (an inline definition) has no notebooks, and no guide."""
    if not lesson.has_jupyter_guide or files is None:
        return None
    ingress = None
    if settings.presentation_domain is not None:
        ingress = IngressPlan(
            name=GUIDE_NAME,
            host=ingress_host(settings.presentation_domain, namespace, GUIDE_NAME),
            service=GUIDE_NAME,
            port=JUPYTER_PORT,
        )
    return GuidePlan(image=settings.jupyter_image, ingress=ingress)


def _tls_secret(settings: Settings) -> SecretRef | None:
    if settings.presentation_domain is None or settings.presentation_tls_secret is None:
        return None
    return SecretRef(namespace=settings.namespace, name=settings.presentation_tls_secret)


def _image(endpoint: Endpoint, images: Mapping[str, Image]) -> Image | None:
    """The curriculum image of an endpoint, None for a full reference."""
    if is_image_reference(endpoint.image):
        return None
    try:
        return images[endpoint.image]
    except KeyError:
        raise ValueError(f"endpoint {endpoint.name!r}: unknown image {endpoint.image!r}") from None


def _interfaces(endpoint: Endpoint, image: Image | None, count: int) -> list[str]:
    """Interface names for the endpoint's links: the image's list in order, else net1, net2..."""
    if image is None or not image.network_interfaces:
        return [f"net{n}" for n in range(1, count + 1)]
    if count > len(image.network_interfaces):
        raise ValueError(
            f"endpoint {endpoint.name!r} has {count} links but image {image.slug!r} names only "
            f"{len(image.network_interfaces)} networkInterfaces"
        )
    return image.network_interfaces[:count]


def _links(lesson: Lesson, namespace: str, settings: Settings) -> list[LinkPlan]:
    """The lesson's links; on an overlay, none above LESSONQ_OVERLAY_MTU: a link's MTU is the
    same at both ends, and a tunnel under a larger one would drop full-size frames only where
    the link crosses nodes."""
    links = []
    for index, link in enumerate(lesson.connections):
        mtu = link.mtu or settings.link_mtu
        if settings.links == "overlay":
            mtu = min(mtu or settings.overlay_mtu, settings.overlay_mtu)
        links.append(
            LinkPlan(
                index=index,
                name=f"link-{index}-{link.a}-{link.b}",
                a=link.a,
                b=link.b,
                bridge=bridge_name(namespace, index),
                subnet=link.subnet,
                mtu=mtu,
            )
        )
    return links


def _attachments(
    endpoint: Endpoint, image: Image | None, links: list[LinkPlan]
) -> list[AttachmentPlan]:
    mine = [link for link in links if endpoint.name in (link.a, link.b)]
    attachments = []
    for link, interface in zip(mine, _interfaces(endpoint, image, len(mine)), strict=True):
        address = None
        if link.subnet is not None:
            # Endpoint a takes the subnet's first host address, b the second.
            address = subnet_hosts(link.subnet)[0 if link.a == endpoint.name else 1]
        attachments.append(AttachmentPlan(link=link.name, interface=interface, address=address))
    return attachments


def _configuration(
    endpoint: Endpoint, image: Image | None, files: LessonFiles | None, stage_count: int
) -> ConfigurationPlan | None:
    if endpoint.configuration_type is None:
        return None
    if files is None:
        raise ValueError(
            f"endpoint {endpoint.name!r} has a configurationType but the lesson has no folder "
            "to take its configuration files from"
        )
    kind, _ = kind_of(endpoint.configuration_type)
    ssh = [p.port for p in endpoint.presentations if p.type == "ssh"]
    return ConfigurationPlan(
        kind=kind,
        stages=[
            stage_file(endpoint.name, endpoint.configuration_type, stage, files)
            for stage in range(stage_count)
        ],
        port=ssh[0] if ssh else 22,
        user=(image.config_user if image else None) or "",
        password=(image.config_password if image else None) or "",
    )


def build_plan(
    lesson: Lesson,
    images: Mapping[str, Image],
    *,
    lesson_id: str,
    session_id: str | None,
    settings: Settings,
    files: LessonFiles | None = None,
) -> LessonPlan:
    """Resolve a checked lesson into the plan of one live lesson for one session (None: a
    warm-pool lesson, in a namespace named after its id); `files` are its folder's (none for a
    lesson without one, such as an inline definition).

    Raises ValueError for a session id or lesson id that cannot be used, for an image the
    lesson was not checked against, and for a configured endpoint without its files (the
    curriculum loader reports those first, per field); MissingFile (a ValueError) names the
    file.
    """
    stage_count = lesson.stage_count
    if session_id is None:
        namespace = pool_namespace_name(settings.instance_id, lesson.slug, lesson_id)
    else:
        namespace = namespace_name(settings.instance_id, lesson.slug, session_id)
    links = _links(lesson, namespace, settings)
    if lesson.allow_egress and not settings.allow_lesson_egress:
        raise ValueError(
            "allowEgress: this lessonq instance keeps lessons inside their namespace "
            "(LESSONQ_ALLOW_LESSON_EGRESS=false)"
        )
    endpoints = []
    for endpoint in lesson.endpoints:
        image = _image(endpoint, images)
        reference = (
            endpoint.image
            if image is None
            else f"{settings.image_registry}/{image.slug}:{settings.image_tag}"
        )
        endpoints.append(
            EndpointPlan(
                name=endpoint.name,
                image=reference,
                flavor=image.flavor if image else Flavor.UNTRUSTED,
                enable_forwarding=image.enable_forwarding if image else False,
                ports=_ports(endpoint),
                probe_port=_probe_port(endpoint),
                attachments=_attachments(endpoint, image, links),
                configuration=_configuration(endpoint, image, files, stage_count),
                presentations=_presentations(endpoint, image, namespace, settings),
                requests=image.requests.resource_list() if image and image.requests else {},
            )
        )
    return LessonPlan(
        lesson_id=lesson_id,
        instance_id=settings.instance_id,
        slug=lesson.slug,
        session_id=session_id,
        namespace=namespace,
        ready_delay=lesson.ready_delay,
        runtime_class=settings.untrusted_runtime_class,
        endpoints=endpoints,
        links=links,
        stage_count=stage_count,
        files_version=files.version if files is not None else None,
        file_paths=list(files.files) if files is not None else [],
        configurator_image=settings.configurator_image,
        allow_egress=lesson.allow_egress,
        dns_namespace=settings.dns_namespace,
        dns_pod_label=dict([settings.dns_pod_label.split("=", 1)]),
        guide=_guide(lesson, files, namespace, settings),
        ingress_class=settings.ingress_class,
        tls_secret=_tls_secret(settings),
        link_mode=settings.links,
    )
