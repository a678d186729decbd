"""Every knob of lessonq, validated once at start.

Values come from environment variables prefixed ``LESSONQ_`` (or a ``.env`` file); a bad value
fails at start with a message naming the variable, never later inside a task.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "LESSONQ_"

# The instance id is a label value and part of every namespace name, so it stays short.
_INSTANCE_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# A host name is at most 253 characters; a presentation's puts one label of 63 in front.
_DOMAIN_MAX = 253 - 64

Seconds = Annotated[float, Field(gt=0)]
# VXLAN's network identifiers are 24 bits.
VNI_MAX = 2**24 - 1


def _is_subdomain(value: str, limit: int) -> bool:
    return len(value) <= limit and all(_DNS_LABEL.match(label) for label in value.split("."))


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    # Where things are.
    redis_url: str = "redis://127.0.0.1:6379/0"
    kube_url: AnyHttpUrl | None = None
    kubeconfig: Path | None = None
    kube_context: str | None = None
    curriculum: Path = Path("examples/curriculum")
    # Refuse the whole curriculum over any problem, instead of serving the lessons that are valid.
    curriculum_strict: bool = False
    # The lessons served: this tier and the ones above it (local serves all; ptr, prod and ptr).
    tier: Literal["prod", "ptr", "local"] = "prod"
    # Files of a lesson folder larger than this are left out of /antidote (and reported).
    lesson_file_max_bytes: int = Field(256 * 1024, ge=1)
    # The image of the Jobs that configure devices at each stage.
    configurator_image: str = "antidotelabs/configurator:latest"

    # Lesson networking: the links' MTU when a link names none (None: the bridge plugin's,
    # 1500); the cluster DNS pods lesson pods may query (namespace, and a label as key=value);
    # whether a lesson may ask, with allowEgress, to reach beyond its namespace.
    link_mtu: int | None = Field(None, ge=68, le=65535)
    # How links join pods: `bridge`, every pod of a lesson on one node (required affinity);
    # `overlay`, a lesson spills over nodes when one cannot hold it, each link's bridges joined
    # by VXLAN (VNI allocated from LESSONQ_VNI_RANGE, kept out of use for
    # LESSONQ_VNI_QUARANTINE after its lesson goes), every link at LESSONQ_OVERLAY_MTU at most.
    links: Literal["bridge", "overlay"] = "bridge"
    overlay_mtu: int = Field(1450, ge=68, le=65535)
    # (Away from the cluster network's own VNIs: Calico's VXLAN uses 4096 on the same port.)
    vni_range: str = "10000-16777215"
    vni_quarantine: Seconds = 3600
    dns_namespace: str = "kube-system"
    dns_pod_label: str = "k8s-app=kube-dns"
    allow_lesson_egress: bool = True

    # Web pages of lessons (http presentations, Jupyter guides): each gets an Ingress with a
    # host under this domain (None: no Ingresses; the API gives in-cluster hosts), of this
    # ingress class (None: the cluster's default); TLS with a copy of this Secret of lessonq's
    # own namespace (None: plain http).
    presentation_domain: str | None = None
    ingress_class: str | None = None
    presentation_tls_secret: str | None = None
    namespace: str = "lessonq"
    # The notebook server of lessons whose guide is a Jupyter notebook.
    jupyter_image: str = "quay.io/jupyter/minimal-notebook:latest"
    instance_id: str = "default"
    queue: str = "lessonq"

    # Lesson lifetime.
    lesson_ttl: Seconds = 30 * 60
    provision_timeout: Seconds = 10 * 60
    teardown_timeout: Seconds = 5 * 60
    record_retention: Seconds = 24 * 60 * 60

    # Lesson limits and how endpoints become pods.
    max_endpoints: int = Field(32, ge=1)
    max_links: int = Field(64, ge=0)
    image_registry: str = "antidotelabs"
    image_tag: str = "latest"
    untrusted_runtime_class: str | None = "kata"

    # Kubernetes API calls.
    api_timeout: Seconds = 10
    api_parallelism: int = Field(8, ge=1, le=64)
    readiness_watch: Seconds = 5
    retry_backoff_max: Seconds = 30

    # Warm pools: how many READY lessons of each curriculum slug to keep for sessions to claim,
    # as "slug=size,slug=size" (operators change them at run time: PUT /v1/pools, `lessonq
    # pool set`; those sizes win over these). Pool lessons count toward the admission limits.
    warm_pool: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)

    # Placement: how many times a lesson whose pods cannot all join its first pod's node is
    # placed again (its pods deleted, that node avoided) before it fails.
    placement_attempts: int = Field(3, ge=0, le=20)

    # Admission: at most this many live lessons, and per session (429 with Retry-After).
    max_live_lessons: int = Field(1000, ge=1)
    max_lessons_per_session: int = Field(4, ge=1)
    admission_retry_after: Seconds = 30

    # The HTTP intake and Flower.
    api_token: SecretStr | None = None
    # Seconds the intake's Redis client pauses between retries of a failed call, in all, before
    # the request answers 503 (workers and the command line ride out a restart: about 40 s).
    intake_redis_retry: float = Field(5, ge=0)
    flower_user: str = "admin"
    flower_password: SecretStr | None = None
    log_json: bool = False

    # Prometheus metrics of a worker, served by its main process; None: no metrics server.
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "0.0.0.0"

    # A worker process whose memory grew past this is replaced after its current task: its
    # heap fragments over thousands of tasks (the live objects stay flat), and a fresh fork is
    # cheaper than the drift.
    worker_max_memory_mb: int = Field(120, ge=32)

    # Celery delivery and the beat.
    task_time_limit: Seconds = 120
    visibility_timeout: Seconds = 60 * 60
    gc_interval: Seconds = 60
    # How often beat has the warm pools checked and refilled (a claim refills its pool at once;
    # this replaces the pool lessons that failed or whose pods restarted).
    pool_refill_interval: Seconds = 15
    stall_timeout: Seconds = 60

    @field_validator("warm_pool", mode="before")
    @classmethod
    def _pool_sizes(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        sizes: dict[str, int] = {}
        for entry in filter(None, (part.strip() for part in value.split(","))):
            slug, equals, size = entry.partition("=")
            if not equals or not slug.strip() or not size.strip().isdigit():
                raise ValueError(f"{entry!r} is not slug=size (for example linux-basics=3)")
            sizes[slug.strip()] = int(size)
        return sizes

    @field_validator("warm_pool")
    @classmethod
    def _pool_slugs(cls, value: dict[str, int]) -> dict[str, int]:
        for slug, size in value.items():
            if not _DNS_LABEL.match(slug) or size < 0:
                raise ValueError(f"{slug}={size}: a lesson slug and a size of 0 or more")
        return value

    @field_validator("vni_range")
    @classmethod
    def _vni_range(cls, value: str) -> str:
        low, dash, high = value.partition("-")
        if not (dash and low.strip().isdigit() and high.strip().isdigit()) or not (
            1 <= int(low) <= int(high) <= VNI_MAX
        ):
            raise ValueError(f"must be FIRST-LAST, VNIs from 1 to {VNI_MAX} (e.g. 4096-65535)")
        return value

    @property
    def vnis(self) -> tuple[int, int]:
        """The first and last VNI of LESSONQ_VNI_RANGE."""
        low, _, high = self.vni_range.partition("-")
        return int(low), int(high)

    @field_validator("instance_id")
    @classmethod
    def _instance_id_is_label(cls, value: str) -> str:
        if not _INSTANCE_ID.match(value):
            raise ValueError(
                "must be 1-40 characters of lowercase letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("presentation_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not _is_subdomain(value, _DOMAIN_MAX):
            raise ValueError(
                f"must be a DNS domain of at most {_DOMAIN_MAX} characters: lowercase labels of "
                "letters, digits and '-', separated by dots (e.g. labs.example.com)"
            )
        return value

    @field_validator("presentation_tls_secret", "ingress_class")
    @classmethod
    def _object_name(cls, value: str | None) -> str | None:
        if value is not None and not _is_subdomain(value, 253):
            raise ValueError("must be a Kubernetes name: lowercase letters, digits, '-' and '.'")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace_name(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("must be a namespace's name: lowercase letters, digits and '-'")
        return value

    @field_validator("dns_pod_label")
    @classmethod
    def _label_selector(cls, value: str) -> str:
        key, equals, label = value.partition("=")
        if not equals or not key or not label:
            raise ValueError("must be a label as key=value, such as k8s-app=kube-dns")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _delivery_outlasts_tasks(self) -> Settings:
        # A message unacknowledged for longer than this is handed to another worker: it must
        # outlast the longest task, or a slow step would run twice at once.
        if self.visibility_timeout <= self.task_time_limit:
            raise ValueError(
                f"{ENV_PREFIX}VISIBILITY_TIMEOUT ({self.visibility_timeout}) must be longer than "
                f"{ENV_PREFIX}TASK_TIME_LIMIT ({self.task_time_limit})"
            )
        # GC resumes a lesson that was silent this long; a healthy one must never look stalled.
        quiet = max(self.retry_backoff_max, self.readiness_watch)
        if self.stall_timeout <= quiet:
            raise ValueError(
                f"{ENV_PREFIX}STALL_TIMEOUT ({self.stall_timeout}) must be longer than "
                f"{ENV_PREFIX}RETRY_BACKOFF_MAX and {ENV_PREFIX}READINESS_WATCH ({quiet})"
            )
        return self


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        lines.append(f"{name}: {problem['msg']}")
    return "invalid settings: " + "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
