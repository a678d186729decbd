"""Calling the CNI plugins as Multus calls them on a node.

The plugin binary runs in the node's network namespace (``ip netns exec``), with the network's
config on stdin and the CNI_* variables: the command, the pod sandbox's container id and
network namespace, the interface name from the pod's networks annotation, CNI_PATH for the IPAM
plugin, and Multus's CNI_ARGS. Static addresses travel as libcni (inside Multus) passes them:
``runtimeConfig.ips``, only for a config that declares the ``ips`` capability.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.dataplane.netns import Netns, run

PLUGINS = ("bridge", "static")
SEARCHED = (Path("/opt/cni/bin"), Path("/usr/lib/cni"))


def plugin_dir() -> Path | None:
    """Where the bridge and static plugins are (the upstream and the Debian locations)."""
    for directory in SEARCHED:
        if all(os.access(directory / plugin, os.X_OK) for plugin in PLUGINS):
            return directory
    return None


def call(
    command: str,
    node: Netns,
    config: dict[str, Any],
    *,
    netns: Netns,
    container_id: str,
    interface: str,
    pod: tuple[str, str],
    ips: list[str] | None = None,
) -> dict[str, Any]:
    """CNI_COMMAND=`command` for one attachment; the plugin's result (ADD) or {}."""
    directory = plugin_dir()
    assert directory is not None
    config = dict(config)
    if ips and config.get("capabilities", {}).get("ips"):
        config["runtimeConfig"] = {"ips": ips}
    namespace, name = pod
    environment = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns.path,
        "CNI_IFNAME": interface,
        "CNI_PATH": str(directory),
        "CNI_ARGS": (
            f"IgnoreUnknown=true;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};"
            f"K8S_POD_INFRA_CONTAINER_ID={container_id}"
        ),
    }
    plugin = str(directory / config["type"])
    assignments = [f"{key}={value}" for key, value in environment.items()]
    output = run(
        ["ip", "netns", "exec", node.name, "env", *assignments, plugin], json.dumps(config)
    )
    return json.loads(output) if output.strip() else {}
