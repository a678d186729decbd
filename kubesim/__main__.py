"""`python -m kubesim --port 0 --nodes node-1,node-2,node-3 [--kubeconfig PATH] ...`"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from kubesim.config import config_from_args
from kubesim.sim import KubeSim


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(argv)
    # The controller thread is CPU-bound; at the default 5 ms switch interval a request thread
    # back from a socket call can wait that long for the GIL. This process is only the server.
    sys.setswitchinterval(0.0005)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with KubeSim(config) as sim:
        print(f"kubesim listening on {sim.url}", flush=True)
        if config.kubeconfig:
            print(f"kubeconfig written to {config.kubeconfig}", flush=True)
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
