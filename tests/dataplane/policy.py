"""A NetworkPolicy as nftables rules in a pod's network namespace: for the tests only.

A cluster's network plugin (Calico, Cilium, ...) enforces lessonq's NetworkPolicy on the pods'
cluster network; the lab has none, so this turns the policy into what such a plugin does for
the shape lessonq renders: egress policy on ``eth0`` (the cluster network; Multus's lesson links
are not the policy's), replies to allowed and incoming connections let through (policies are
stateful), each egress rule's peers resolved to the addresses of the pods they select
(``namespaceSelector`` and ``podSelector`` with ``matchLabels``; no selector: every pod of
the policy's namespace) on its ports, or anywhere for a rule without ``to``, and everything
else refused. Refused with an ICMP error rather than dropped, so a test sees a refusal at once
instead of waiting out a timeout. Anything else in a policy (ipBlock, matchExpressions, named
ports, ingress) is not lessonq's shape and fails the translation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ALLOWED_KEYS = {"namespaceSelector", "podSelector"}


def _match(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    if set(selector) - {"matchLabels"}:
        raise NotImplementedError(f"selector {selector}")
    wanted: Mapping[str, str] = selector.get("matchLabels", {})
    return labels.items() >= wanted.items()


def _peer_addresses(
    peer: Mapping[str, Any],
    policy_namespace: str,
    namespaces: Mapping[str, Mapping[str, str]],
    pods: Sequence[tuple[str, Mapping[str, str], str]],
) -> set[str]:
    if set(peer) - ALLOWED_KEYS:
        raise NotImplementedError(f"peer {peer}")
    selector = peer.get("namespaceSelector")
    found = set()
    for namespace, labels, address in pods:
        in_namespace = (
            namespace == policy_namespace
            if selector is None
            else _match(selector, namespaces[namespace])
        )
        if in_namespace and _match(peer.get("podSelector"), labels):
            found.add(address)
    return found


def _ports(rule: Mapping[str, Any]) -> list[str]:
    """The nft matches of a rule's ports ("" for any port)."""
    if "ports" not in rule:
        return [""]
    matches = []
    for port in rule["ports"]:
        if set(port) - {"protocol", "port"} or not isinstance(port["port"], int):
            raise NotImplementedError(f"port {port}")
        matches.append(f"{port.get('protocol', 'TCP').lower()} dport {port['port']} ")
    return matches


def egress_rules(
    policy: Mapping[str, Any],
    namespaces: Mapping[str, Mapping[str, str]],
    pods: Sequence[tuple[str, Mapping[str, str], str]],
    interface: str = "eth0",
) -> str:
    """The nft script that enforces `policy` (an Egress NetworkPolicy) in a selected pod.

    `namespaces`: each namespace's labels; `pods`: (namespace, labels, address) of every pod.
    """
    spec = policy["spec"]
    if spec["policyTypes"] != ["Egress"] or spec["podSelector"] != {}:
        raise NotImplementedError(f"policy {spec}")
    namespace = policy["metadata"]["namespace"]
    rules = []
    for rule in spec["egress"]:
        if set(rule) - {"to", "ports"}:
            raise NotImplementedError(f"rule {rule}")
        destinations = [""]
        if "to" in rule:
            addresses = set().union(
                *(_peer_addresses(peer, namespace, namespaces, pods) for peer in rule["to"])
            )
            if not addresses:
                continue  # selects no pod: allows nothing
            destinations = [f"ip daddr {{ {', '.join(sorted(addresses))} }} "]
        rules += [f"{to}{port}accept" for to in destinations for port in _ports(rule)]
    body = "\n".join(f"\t\t{rule}" for rule in rules)
    return (
        "table inet networkpolicy {\n"
        "\tchain egress {\n"
        "\t\ttype filter hook output priority filter; policy accept;\n"
        f'\t\toifname != "{interface}" accept\n'
        "\t\tct state established,related accept\n"
        f"{body}\n"
        "\t\treject with icmpx type admin-prohibited\n"
        "\t}\n"
        "}\n"
    )
