"""The pods/log subresource: what a container printed, as the apiserver and the kubelet serve it.

The apiserver checks the PodLogOptions (pkg/registry/core/pod/rest/log.go) and the container
(LogLocation); an unscheduled pod has an empty log; the rest is the kubelet's answer, read here
from the pod's status as the kubelet reads its status manager (validateContainerLogStatus), its
refusals passed on as 400 BadRequest. What a container prints is its image profile's `output`, all
of it at the start of each run, stamped with the run's startedAt.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubesim import errors, params
from kubesim.api import Api
from kubesim.config import SimConfig, profile_for
from kubesim.errors import Cause
from kubesim.resources import NODES, PODS
from kubesim.validation import forbidden, invalid

JSON = dict[str, Any]
NEGATIVE_MSG = "must be greater than or equal to 0"


@dataclass(frozen=True)
class LogOptions:
    container: str = ""
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since_seconds: int | None = None
    since_time: float | None = None  # epoch seconds

    @classmethod
    def from_query(cls, query: params.Query) -> LogOptions:
        """Converted as the parameter codec converts url.Values into PodLogOptions: field by field
        in the struct's order, the first bad one a 400. `follow` is accepted; the answer is what
        was printed so far (see the README)."""
        since_seconds = params.optional_int(query, "sinceSeconds")
        since_text = query.get("sinceTime", "")
        # metav1.Time.UnmarshalQueryParameter: empty (or "null", from old clients) is unset
        since_time = params.rfc3339(since_text) if since_text not in ("", "null") else None
        return cls(
            container=query.get("container", ""),
            previous=params.flag(query, "previous"),
            timestamps=params.flag(query, "timestamps"),
            tail_lines=params.optional_int(query, "tailLines"),
            limit_bytes=params.optional_int(query, "limitBytes"),
            since_seconds=since_seconds,
            since_time=since_time,
        )

    def problems(self) -> list[Cause]:
        """ValidatePodLogOptions."""
        causes = []
        if self.tail_lines is not None and self.tail_lines < 0:
            causes.append(invalid("tailLines", self.tail_lines, NEGATIVE_MSG))
        if self.limit_bytes is not None and self.limit_bytes < 1:
            causes.append(invalid("limitBytes", self.limit_bytes, "must be greater than 0"))
        if self.since_seconds is not None and self.since_time is not None:
            causes.append(
                forbidden("[]", "at most one of `sinceTime` or `sinceSeconds` may be specified")
            )
        elif self.since_seconds is not None and self.since_seconds < 1:
            causes.append(invalid("sinceSeconds", self.since_seconds, "must be greater than 0"))
        return causes


def read_log(api: Api, config: SimConfig, namespace: str, name: str, query: params.Query) -> bytes:
    options = LogOptions.from_query(query)
    causes = options.problems()
    if causes:  # checked before the pod is looked up
        raise errors.invalid("PodLogOptions", "", name, causes)
    pod = api.get(PODS, namespace, name)
    container = _container(pod, options.container)
    node = pod["spec"].get("nodeName")
    if not node:
        return b""  # LogLocation: no host yet, no location, an empty stream
    api.get(NODES, "", node)  # the kubelet's address comes from its Node
    run = _run_of(pod, container, options.previous)
    image = run.get("image") or _spec_image(pod, container)
    text = profile_for(config.image_profiles, image).log_text()
    return _render(text, _started(run), options)


def _started(run: JSON) -> float:
    """When the run started, so when its output was printed (a status a client wrote may lack
    it: then long ago)."""
    try:
        return params.rfc3339(str(run.get("startedAt") or ""))
    except errors.ApiError:
        return 0.0


def _container_names(spec: JSON) -> list[str]:
    """podutil.VisitContainers' order: init containers, then containers."""
    return [
        str(c.get("name"))
        for group in ("initContainers", "containers")
        for c in spec.get(group) or []
    ]


def _container(pod: JSON, wanted: str) -> str:
    """The apiserver's validateContainer: the only container, or the one named."""
    spec, name = pod["spec"], pod["metadata"]["name"]
    if not wanted:
        containers = spec.get("containers") or []
        if len(containers) == 1:
            return str(containers[0]["name"])
        if not containers:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        names = " ".join(_container_names(spec))
        raise errors.bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{names}]"
        )
    if wanted not in _container_names(spec):
        raise errors.bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


def _spec_image(pod: JSON, container: str) -> str:
    spec = pod["spec"]
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            if c.get("name") == container:
                return str(c.get("image") or "")
    return ""


def _run_of(pod: JSON, container: str, previous: bool) -> JSON:
    """The kubelet's validateContainerLogStatus: the run whose log is asked for (a terminated or
    running state, with the container's image), or its refusal in its words."""
    pod_name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    found = next(
        (
            s
            for group in ("containerStatuses", "initContainerStatuses")
            for s in status.get(group) or []
            if s.get("name") == container
        ),
        None,
    )
    about = f"container {json.dumps(container)} in pod {json.dumps(pod_name)}"
    if found is None:
        raise errors.bad_request(f"{about} is not available")
    state = found.get("state") or {}
    last = (found.get("lastState") or {}).get("terminated")
    image = {"image": found.get("image")}
    if previous:
        if not last or not last.get("containerID"):
            raise errors.bad_request(f"previous terminated {about} not found")
        return {**last, **image}
    if "running" in state:
        return {**state["running"], **image}
    if "terminated" in state:
        if state["terminated"].get("containerID"):
            return {**state["terminated"], **image}
        if last and last.get("containerID"):
            return {**last, **image}
        raise errors.bad_request(f"{about} is terminated")
    if last:
        if not last.get("containerID"):
            raise errors.bad_request(f"{about} is terminated")
        return {**last, **image}
    if "waiting" in state:
        reason = state["waiting"].get("reason", "")
        why = {
            "ErrImagePull": "image can't be pulled",
            "ImagePullBackOff": "trying and failing to pull image",
        }.get(reason, reason)
        raise errors.bad_request(f"{about} is waiting to start: {why}")
    raise errors.bad_request(f"{about} is waiting to start - no logs yet")


def _render(text: str, printed_at: float, options: LogOptions) -> bytes:
    """The kubelet's log reader: lines since the given time, the last tailLines of them, each with
    its timestamp when asked, cut at limitBytes."""
    data = text.encode()
    # a log's lines end at "\n" only; a "\r" stays inside its line
    lines = [line + b"\n" for line in data.split(b"\n")[:-1]]
    if data and not data.endswith(b"\n"):
        lines.append(data.rsplit(b"\n", 1)[-1])
    since = options.since_time
    if options.since_seconds is not None:  # wall-clock: a log's times are the node's clock
        since = time.time() - options.since_seconds
    if since is not None and printed_at < since:
        lines = []
    if options.tail_lines is not None:
        lines = lines[-options.tail_lines :] if options.tail_lines else []
    if options.timestamps:
        stamp = _rfc3339_nano(printed_at).encode() + b" "
        lines = [stamp + line for line in lines]
    out = b"".join(lines)
    if options.limit_bytes is not None:
        out = out[: options.limit_bytes]
    return out


def _rfc3339_nano(at: float) -> str:
    """The kubelet's timeFormatOut, 2006-01-02T15:04:05.000000000Z07:00, in UTC."""
    moment = datetime.fromtimestamp(int(at), UTC)
    nanos = round((at - int(at)) * 1e9)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
