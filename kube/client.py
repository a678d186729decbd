"""The official client, configured for the cluster the settings name."""

from __future__ import annotations

import urllib3
from kubernetes import config as k8s_config
from kubernetes.client.api_client import ApiClient
from kubernetes.client.configuration import Configuration
from kubernetes.config.config_exception import ConfigException

from config.settings import Settings

# Only what never reached the server is retried here; the rest is lessonq's to retry, with its
# backoff. urllib3 must not act on Retry-After itself: it would turn a 429 into a connection
# error with neither status nor Retry-After once its zero status retries ran out, and the step
# would retry sooner than the server asked.
RETRIES = urllib3.Retry(
    total=2, connect=2, read=0, status=0, other=0, respect_retry_after_header=False
)


def api_client(settings: Settings) -> ApiClient:
    """A client for the configured cluster: a plain URL, a kubeconfig, or in-cluster."""
    configuration = Configuration()
    if settings.kube_url is not None:
        configuration.host = str(settings.kube_url).rstrip("/")
    elif settings.kubeconfig is not None:
        k8s_config.load_kube_config(
            config_file=str(settings.kubeconfig),
            context=settings.kube_context,
            client_configuration=configuration,
        )
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException:
            k8s_config.load_kube_config(
                context=settings.kube_context, client_configuration=configuration
            )
    # Steps create objects in parallel; every thread needs a pooled connection.
    configuration.connection_pool_maxsize = settings.api_parallelism + 2
    configuration.retries = RETRIES
    return ApiClient(configuration)
