"""A server of the development stack whose free port another process took before it could bind
it starts again on another port (tests start servers side by side)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devstack.local import PortTaken, RedisServer, free_port, port_taken


def test_redis_whose_port_was_taken_meanwhile_starts_on_another(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = RedisServer(tmp_path)
        server.port = taken  # as if another process bound it after free_port() looked

        server.start()
        try:
            assert server.port != taken
            assert server.url == f"redis://127.0.0.1:{server.port}/0"
        finally:
            server.stop()


def test_a_port_taken_at_every_attempt_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        monkeypatch.setattr("devstack.local.free_port", lambda: taken)
        server = RedisServer(tmp_path)

        with pytest.raises(PortTaken, match=f"port {taken} was taken"):
            server.start()
    assert free_port() != 0


@pytest.mark.parametrize(
    "line",
    [
        # etcd 3.4, as a CI run logged it when another test's server took its port
        "2026-11-30 04:09:47.651365 C | etcdmain: listen tcp 127.0.0.1:47061: bind: address "
        "already in use",
        # kube-apiserver
        'E1130 run.go:74] "command failed" err="failed to create listener: failed to listen on '
        '127.0.0.1:6443: listen tcp 127.0.0.1:6443: bind: address already in use"',
        # redis-server
        "# Warning: Could not create server TCP listening socket 127.0.0.1:40573: bind: Address "
        "already in use",
    ],
)
def test_a_taken_port_is_known_by_each_servers_words(line: str) -> None:
    assert port_taken(f"starting\n{line}\n")
    assert not port_taken("starting\nlisten tcp 127.0.0.1:2379: bind: permission denied\n")
