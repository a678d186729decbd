"""lessonq's NetworkPolicy, enforced in the pods as a network plugin would (``policy``): a lesson
pod reaches its own namespace and the cluster's DNS pods on port 53, and nothing else."""

from __future__ import annotations

import itertools
import select
import socket

from tests.dataplane.lab import Lab, Pod
from tests.dataplane.netns import ping
from tests.dataplane.policy import egress_rules

TCP_PORTS = (53, 8080)
_tokens = itertools.count()
Check = tuple[str, str, str, int]  # source, target, protocol, port


class Servers:
    """Something listening on TCP 53 and 8080 and UDP 53 in every pod of the lab."""

    def __init__(self, lab: Lab) -> None:
        self.udp: dict[str, socket.socket] = {}
        for pod in lab.pods:
            for port in TCP_PORTS:
                listening = pod.netns.socket(socket.AF_INET, socket.SOCK_STREAM)
                listening.bind(("0.0.0.0", port))
                listening.listen(64)
            self.udp[pod.address] = pod.netns.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp[pod.address].bind(("0.0.0.0", 53))

    def reaches(self, source: Pod, target: Pod, protocol: str, port: int) -> bool:
        if protocol == "tcp":
            client = source.netns.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.settimeout(5)
            try:
                client.connect((target.address, port))
            except OSError:  # refused by the policy (EPERM, an ICMP error), or timed out
                return False
            return True
        client = source.netns.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.connect((target.address, port))
        token = f"token-{next(_tokens)}".encode()
        try:
            client.send(token)
        except PermissionError:  # refused on the way out
            return False
        server = self.udp[target.address]
        while True:
            ready = select.select([server, client], [], [], 5)[0]
            if not ready:
                return False
            if server in ready and server.recv(2048) == token:
                return True
            if client in ready:
                try:
                    client.recv(2048)
                except OSError:  # the policy's refusal
                    return False


def matrix(lab: Lab, servers: Servers, checks: list[Check]) -> dict[Check, bool]:
    def pod(name: str) -> Pod:
        where, _, pod_name = name.partition("/")
        return lab.pod(where, pod_name)

    return {check: servers.reaches(pod(check[0]), pod(check[1]), *check[2:]) for check in checks}


# From session s1's linux1: allowed or not.
EXPECTED: dict[Check, bool] = {
    # Its own namespace, any port.
    ("s1/linux1", "s1/vqfx1", "tcp", 8080): True,
    ("s1/linux1", "s1/vqfx1", "tcp", 53): True,
    ("s1/linux1", "s1/vqfx3", "udp", 53): True,
    # The DNS pods, on port 53 only.
    ("s1/linux1", "kube-system/coredns", "udp", 53): True,
    ("s1/linux1", "kube-system/coredns", "tcp", 53): True,
    ("s1/linux1", "kube-system/coredns", "tcp", 8080): False,
    # Another server on port 53 is a way out: refused, in kube-system too.
    ("s1/linux1", "kube-system/metrics", "udp", 53): False,
    ("s1/linux1", "kube-system/metrics", "tcp", 53): False,
    ("s1/linux1", "default/web", "udp", 53): False,
    ("s1/linux1", "default/web", "tcp", 8080): False,
    # The same lesson in another session.
    ("s1/linux1", "s2/linux1", "tcp", 8080): False,
    ("s1/vqfx2", "s2/vqfx2", "udp", 53): False,
    # Ingress is open (learners reach their devices from outside): the replies go out.
    ("default/web", "s1/vqfx1", "tcp", 8080): True,
    ("kube-system/metrics", "s2/linux1", "tcp", 53): True,
}


def test_lesson_pods_reach_their_namespace_and_dns_and_nothing_else(lab: Lab) -> None:
    servers = Servers(lab)
    # Without the policy, everything is reachable: every refusal below is the policy's.
    assert matrix(lab, servers, list(EXPECTED)) == dict.fromkeys(EXPECTED, True)
    pods = [(pod.namespace, pod.labels, pod.address) for pod in lab.pods]
    for session, plan in lab.plans.items():
        rules = egress_rules(lab.policy(session), lab.namespaces, pods)
        for pod in lab.pods:
            if pod.namespace == plan.namespace:  # podSelector {}: every pod of the lesson
                pod.netns.nft(rules)
    assert matrix(lab, servers, list(EXPECTED)) == EXPECTED
    # The lesson links are not the policy's: they still carry everything.
    for link in lab.links:
        end = link.ends[0]
        assert ping(end.pod.netns, link.addresses[1], end.interface), link.network
