"""Deterministic names and label values for everything lessonq creates.

Pure functions only: the same inputs give the same names in every process, so a retried or
redelivered task finds the objects an earlier attempt made instead of making new ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

# Label keys every object carries (pods also ENDPOINT).
MANAGED = "lessonq.io/managed"
INSTANCE = "lessonq.io/instance"
LESSON = "lessonq.io/lesson"
SESSION = "lessonq.io/session"
ENDPOINT = "lessonq.io/endpoint"
# The live lesson's id: ownership checks compare it, since two records can share a session.
LESSON_ID = "lessonq.io/id"
# Configuration Jobs: the endpoint a Job (and its pod) configures, the stage and the
# generation (one per stage change) it belongs to.
CONFIGURES = "lessonq.io/configures"
STAGE = "lessonq.io/stage"
GENERATION = "lessonq.io/generation"
# The label the Job controller gives a Job's pods: its name.
JOB_NAME = "job-name"
# The Jupyter guide's pod (not an endpoint: it carries this instead of ENDPOINT).
GUIDE = "lessonq.io/guide"
# The guide's pod, Service and Ingress, as Antidote named its Jupyter guide endpoint. A lesson
# with a Jupyter guide may not name an endpoint so.
GUIDE_NAME = "jupyterlabguide"
# A label value cannot hold every session id (64 chars, leading '-'), so the namespace also
# carries the exact one here.
SESSION_ANNOTATION = "lessonq.io/session-id"

DNS1123_LABEL_MAX = 63
IFNAMSIZ_MAX = 15  # Linux IFNAMSIZ is 16 including the NUL.
SESSION_ID_MAX = 64

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_SESSION_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{SESSION_ID_MAX}}}")
_PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

# Namespace and label hashes: 10 base32 characters are 50 bits. Even with a million live
# lessons the chance that any two share a suffix is about n^2 / 2^51, under one in two thousand,
# and a clash also needs the readable prefixes to match.
_SUFFIX_LEN = 10
# Bridges: "lq" + 13 base32 characters = 65 bits. With 10,000 links alive on one node the
# chance that two share a bridge (and so one broadcast segment) is about n^2 / 2^66, roughly
# 1 in 10^12.
BRIDGE_PREFIX = "lq"


def is_dns1123_label(value: str) -> bool:
    """Namespace and Service-style names: 1-63 of [a-z0-9-], alphanumeric at both ends."""
    return len(value) <= DNS1123_LABEL_MAX and _DNS1123_LABEL.fullmatch(value) is not None


def is_dns1035_label(value: str) -> bool:
    """Service names: a DNS-1123 label that starts with a letter."""
    return len(value) <= DNS1123_LABEL_MAX and _DNS1035_LABEL.fullmatch(value) is not None


def is_label_value(value: str) -> bool:
    """A Kubernetes label value: up to 63 of [A-Za-z0-9_.-], alphanumeric at both ends."""
    return len(value) <= DNS1123_LABEL_MAX and _LABEL_VALUE.fullmatch(value) is not None


def is_port_name(value: str) -> bool:
    """A container/Service port name (IANA_SVC_NAME): <=15 chars, a letter, no '--'."""
    return (
        len(value) <= IFNAMSIZ_MAX
        and _PORT_NAME.fullmatch(value) is not None
        and "--" not in value
        and any(c.isalpha() for c in value)
    )


def _digest(*parts: str) -> str:
    """Lowercase base32 of a SHA-256 over the parts, encoded so that no two tuples collide."""
    # JSON keeps ("a-b", "c") and ("a", "b-c") apart, unlike plain concatenation.
    raw = hashlib.sha256(json.dumps(parts).encode()).digest()
    return base64.b32encode(raw).decode().rstrip("=").lower()


def safe_repr(value: object, limit: int = 40) -> str:
    """A value safe to put in an error message: ASCII-escaped and truncated."""
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_session_id(session_id: object) -> str:
    """Return the session id if it is 1-64 characters of [A-Za-z0-9_-], else raise ValueError."""
    if not isinstance(session_id, str):
        raise ValueError(
            f"session_id must be a string, not {type(session_id).__name__} "
            f"({safe_repr(session_id)})"
        )
    if _SESSION_ID.fullmatch(session_id) is None:
        raise ValueError(
            f"session_id must be 1-{SESSION_ID_MAX} characters of letters, digits, '_' and '-'; "
            f"got {safe_repr(session_id)}"
        )
    return session_id


def _sanitise(value: str, allowed: str) -> str:
    """Turn runs of characters outside `allowed` into '-' and trim separators off the ends."""
    return re.sub(f"[^{allowed}]+", "-", value).strip("-_.")


def _readable_with_suffix(readable: str, suffix: str, limit: int) -> str:
    """`readable-suffix`, cutting `readable` so that the whole fits in `limit` characters."""
    room = limit - len(suffix) - 1
    head = readable[:room].rstrip("-_.")
    return f"{head}-{suffix}" if head else suffix


def namespace_name(instance_id: str, slug: str, session_id: str) -> str:
    """The namespace of one lesson for one session in one lessonq instance.

    `<slug>-<session>-<hash>`: readable from the start and cut to 63 characters, while the hash
    of the exact (instance, slug, session) keeps apart names that read the same once lowercased
    or shortened, and instances that share a cluster.
    """
    validate_session_id(session_id)
    readable = _sanitise(f"{slug}-{session_id}".lower(), "a-z0-9")
    suffix = _digest("namespace", instance_id, slug, session_id)[:_SUFFIX_LEN]
    return _readable_with_suffix(readable, suffix, DNS1123_LABEL_MAX)


def pool_namespace_name(instance_id: str, slug: str, lesson_id: str) -> str:
    """The namespace of a warm-pool lesson, made before any session claims it: `<slug>-pool-
    <hash>`, the hash of the lesson's id (unique) apart from any session's namespace."""
    readable = _sanitise(f"{slug}-pool".lower(), "a-z0-9")
    suffix = _digest("pool-namespace", instance_id, slug, lesson_id)[:_SUFFIX_LEN]
    return _readable_with_suffix(readable, suffix, DNS1123_LABEL_MAX)


def bridge_name(namespace: str, link_index: int) -> str:
    """The Linux bridge of one link: `lq` + 13 hash characters, 15 in all (IFNAMSIZ).

    Bridges are node-wide and outlive their lessons (the bridge plugin never deletes them), so
    the name must differ for every link of every lesson that may share a node: it hashes the
    namespace, which is already unique per instance, lesson and session.
    """
    if isinstance(link_index, bool) or not isinstance(link_index, int) or link_index < 0:
        raise ValueError(f"link_index must be a non-negative integer, got {safe_repr(link_index)}")
    room = IFNAMSIZ_MAX - len(BRIDGE_PREFIX)
    return BRIDGE_PREFIX + _digest("bridge", namespace, str(link_index))[:room]


def label_value(value: str) -> str:
    """`value` itself when it is a valid label value, else a readable form plus a short hash.

    The hashed form is only for selecting and reading; exact values (session ids) are kept in
    annotations where needed.
    """
    if is_label_value(value):
        return value
    readable = _sanitise(value, "A-Za-z0-9_.-")
    return _readable_with_suffix(readable, _digest("label", value)[:_SUFFIX_LEN], DNS1123_LABEL_MAX)


def config_job_name(endpoint: str, stage: int, generation: int) -> str:
    """`config-<endpoint>-<stage>-<generation>`, cut to 63 characters with a hash when longer:
    the Job controller labels the Job's pods with its name, and label values stop at 63."""
    readable = f"config-{endpoint}-{stage}-{generation}"
    if len(readable) <= DNS1123_LABEL_MAX:
        return readable
    suffix = _digest("config", endpoint, str(stage), str(generation))[:_SUFFIX_LEN]
    return _readable_with_suffix(readable, suffix, DNS1123_LABEL_MAX)


def _hashed_label(kind: str, *parts: str) -> str:
    """`<part>-<part>-...-<hash>` as one DNS label, cut to 63 characters. The hash of the exact
    parts is always there: names that read the same once joined or sanitised (endpoint `a` with
    presentation `b-c`, endpoint `a-b` with `c`; `Web UI` and `web-ui`) stay apart."""
    readable = _sanitise("-".join(parts).lower(), "a-z0-9")
    return _readable_with_suffix(readable, _digest(kind, *parts)[:_SUFFIX_LEN], DNS1123_LABEL_MAX)


def ingress_name(endpoint: str, presentation: str) -> str:
    """The Ingress of an endpoint's web presentation, in the lesson's namespace."""
    return _hashed_label("ingress", endpoint, presentation)


def ingress_host(domain: str, namespace: str, *names: str) -> str:
    """A web page's host under the presentation domain: `<namespace>-<names>-<hash>.<domain>`.

    One label under the domain, so that one wildcard certificate (`*.<domain>`) covers every
    host; the namespace in it (hashed, unique per instance, lesson and session) keeps the hosts
    of two lessons apart.
    """
    return f"{_hashed_label('host', namespace, *names)}.{domain}"
