"""KubeSim: the cluster and its HTTP server in background threads, as a context manager."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from kubesim.cluster import Cluster
from kubesim.config import FaultRule, SimConfig
from kubesim.server import SimHTTPServer


def kubeconfig_for(url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubesim", "cluster": {"server": url}}],
        "users": [{"name": "kubesim", "user": {}}],
        "contexts": [
            {
                "name": "kubesim",
                "context": {"cluster": "kubesim", "user": "kubesim", "namespace": "default"},
            }
        ],
        "current-context": "kubesim",
        "preferences": {},
    }


class KubeSim:
    """`with KubeSim(nodes=[...], time_scale=0.01) as sim:` then talk to `sim.url`.

    Keyword arguments are the fields of SimConfig (the CLI flags are built from the same model).
    """

    def __init__(self, config: SimConfig | None = None, **overrides: Any) -> None:
        base = config.model_dump() if config is not None else {}
        self.config = SimConfig.model_validate({**base, **overrides})
        self.cluster = Cluster(self.config)
        self._server = SimHTTPServer((self.config.host, self.config.port), self.cluster)
        self._thread = threading.Thread(target=self._serve, name="kubesim-http", daemon=True)
        self._running = False

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)  # shutdown() waits up to one poll

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def start(self) -> KubeSim:
        self.cluster.start()
        self._thread.start()
        self._running = True
        if self.config.kubeconfig:
            self.write_kubeconfig(self.config.kubeconfig)
        return self

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self.cluster.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> KubeSim:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """The same dict /_sim/stats serves."""
        return self.cluster.stats_snapshot()

    def set_faults(self, rules: list[FaultRule | dict[str, Any]]) -> None:
        self.cluster.set_faults([r.model_dump() if isinstance(r, FaultRule) else r for r in rules])

    def reset(self) -> None:
        self.cluster.reset()

    def write_kubeconfig(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(kubeconfig_for(self.url), sort_keys=False))
        return target
