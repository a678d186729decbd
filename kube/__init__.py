"""The edge to the Kubernetes API: the official client, the kinds lessonq handles, and what a
failure means (transient or permanent). Only the workers talk to the cluster."""

from kube.edge import Kube, KubeApi, Listing, WatchEvent
from kube.errors import KubeError, PermanentError, TransientError
from kube.objects import Obj, describe, is_terminating, owner_of

__all__ = [
    "Kube",
    "KubeApi",
    "KubeError",
    "Listing",
    "Obj",
    "PermanentError",
    "TransientError",
    "WatchEvent",
    "describe",
    "is_terminating",
    "owner_of",
]
