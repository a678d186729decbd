"""How fast kubesim answers the official Kubernetes client: simple GETs/s and pod creates/s.

Run: .venv/bin/python -m bench.kubesim_bench [--seconds 5] [--threads 1] [--api-latency 0]

kubesim runs in its own process (as a remote apiserver would), so the client's CPU time does not
share the server's interpreter. Every pod create is schema-validated and then scheduled and
started by the simulated cluster, as in the tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client

REPO = Path(__file__).resolve().parents[1]


def start_server(
    api_latency: float, time_scale: float, nodes: int
) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable,
        "-m",
        "kubesim",
        "--port",
        "0",
        "--api-latency",
        str(api_latency),
        "--time-scale",
        str(time_scale),
        "--nodes",
        ",".join(f"node-{i}" for i in range(1, nodes + 1)),
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("kubesim listening on "):
        process.kill()
        raise SystemExit(f"kubesim did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1]


def core_api(url: str) -> client.CoreV1Api:
    return client.CoreV1Api(client.ApiClient(client.Configuration(host=url)))


def measure(workers: list[Callable[[], None]], seconds: float) -> tuple[int, float]:
    """Run each worker in a loop on its own thread for `seconds`; (calls, elapsed)."""
    counts = [0] * len(workers)
    stop = threading.Event()

    def loop(index: int) -> None:
        while not stop.is_set():
            workers[index]()
            counts[index] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(workers))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - started


def pod_creator(core: client.CoreV1Api, namespace: str, worker: int) -> Callable[[], None]:
    serial = iter(range(10**9))

    def create() -> None:
        name = f"bench-{worker}-{next(serial)}"
        # A plain dict, as lessonq sends its manifests (the client serialises either).
        body: Any = {
            "metadata": {"name": name, "labels": {"app": "bench", "lesson": namespace}},
            "spec": {
                "containers": [
                    {"name": "main", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}
                ]
            },
        }
        core.create_namespaced_pod(namespace, body)

    return create


def _getter(core: client.CoreV1Api) -> Callable[[], None]:
    def get() -> None:
        core.read_namespace("default")

    return get


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument(
        "--threads", type=int, default=1, help="client threads, one connection each"
    )
    parser.add_argument("--api-latency", type=float, default=0.0, help="kubesim --api-latency")
    parser.add_argument("--time-scale", type=float, default=1.0, help="kubesim --time-scale")
    parser.add_argument(
        "--nodes",
        type=int,
        default=30,
        help="simulated nodes; 110 pods fit on each, so every created pod is scheduled and started",
    )
    args = parser.parse_args()

    process, url = start_server(args.api_latency, args.time_scale, args.nodes)
    try:
        clients = [core_api(url) for _ in range(args.threads)]
        clients[0].list_namespace()  # warm the connection and the server
        gets, get_time = measure([_getter(c) for c in clients], args.seconds)
        namespace: Any = {"metadata": {"name": "bench"}}
        clients[0].create_namespace(namespace)
        creates, create_time = measure(
            [pod_creator(c, "bench", i) for i, c in enumerate(clients)], args.seconds
        )
        stats = json.loads(
            client.ApiClient(client.Configuration(host=url))
            .call_api("GET", f"{url}/_sim/stats")
            .read()
        )
    finally:
        process.terminate()
        process.wait(timeout=10)

    results = {
        "get_per_second": round(gets / get_time, 1),
        "pod_creates_per_second": round(creates / create_time, 1),
        "gets": gets,
        "pod_creates": creates,
        "seconds": args.seconds,
        "threads": args.threads,
        "api_latency": args.api_latency,
        "nodes": args.nodes,
        "server_requests": stats["total"],
        "server_codes": stats["by_code"],
    }
    print("| measurement | calls | per second |")
    print("| --- | ---: | ---: |")
    print(f"| GET namespace | {gets} | {results['get_per_second']} |")
    print(f"| create pod (validated) | {creates} | {results['pod_creates_per_second']} |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
