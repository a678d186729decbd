"""lessonq's links as the real bridge plugin wires them: each one a working wire between its two
ends, and nothing else: not the other links of the lesson, not the other session's lesson."""

from __future__ import annotations

import itertools

from tests.dataplane.lab import Lab
from tests.dataplane.netns import BROADCAST, TEST_ETHERTYPE, Listener, ping, send_frame, wait_for


def test_every_link_carries_pings_both_ways_to_its_own_peer(lab: Lab) -> None:
    assert len(lab.links) == 6  # three links, two sessions
    for link in lab.links:
        for (source, target), address in zip(
            itertools.permutations(link.ends), reversed(link.addresses), strict=True
        ):
            where = f"{link.session} {link.network}: {source.pod.name} {source.interface}"
            assert ping(source.pod.netns, address, source.interface), f"{where} -> {address}"
            # The same address lives in the other session: the answer must be the peer's.
            peer = target.pod.netns.mac(target.interface)
            assert source.pod.netns.neighbour(source.interface, address) == peer, where


def test_the_subnet_link_has_the_addresses_the_plan_gave_it(lab: Lab) -> None:
    for session in ("s1", "s2"):
        (link,) = [link for link in lab.plans[session].links if link.subnet is not None]
        (wired,) = [w for w in lab.links if w.session == session and w.network == link.name]
        for end in wired.ends:
            (asked,) = end.ips
            assert asked in [
                f"{a}/{asked.split('/')[1]}" for a in end.pod.netns.addresses(end.interface)
            ]


def test_a_broadcast_from_each_end_reaches_its_peer_and_nothing_else(lab: Lab) -> None:
    # Every interface of every pod listens, the cluster network's included.
    listeners = [
        Listener(pod.netns, interface)
        for pod in lab.pods
        for interface in ["eth0", *(a.interface for a in pod.attachments)]
    ]
    expected: dict[tuple[str, str], set[bytes]] = {}
    for link in lab.links:
        for source, target in itertools.permutations(link.ends):
            token = f"{link.session}/{source.pod.name}/{source.interface}".encode()
            send_frame(source.pod.netns, source.interface, BROADCAST, TEST_ETHERTYPE, token)
            expected.setdefault((target.pod.netns.name, target.interface), set()).add(token)
    wait_for(listeners, expected)
    # A frame that leaked would have been delivered with the ones expected (the same softirq
    # work, on the same node): they are all in by now.
    received = {lst.where: set(lst.drain()) for lst in listeners if lst.drain()}
    assert received == expected
