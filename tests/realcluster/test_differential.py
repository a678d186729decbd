"""kubesim against the real kube-apiserver: the corpus (tests/realcluster/corpus.py) sent to both,
raw over HTTP, and every answer compared by status code, Status reason and the fields its
causes name. The differences allowed are the ones kubesim/README.md lists, and only those."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3

from devstack.realcluster import RealCluster
from kubesim import KubeSim
from tests.realcluster.corpus import GENERATE_NAME, Call, Names, corpus, namespace

JSON = dict[str, Any]
README = Path(__file__).resolve().parents[2] / "kubesim" / "README.md"
VERSION = "v1.20.2"  # the real apiserver's: the README's table is about this one
SECTION = f"## Where kubesim differs from kube-apiserver {VERSION}"
PLACEHOLDER = re.compile(r"<(rv|uid):([a-z0-9-]+)>")
GENERATED = re.compile(f"^{GENERATE_NAME}[a-z0-9]{{5}}$")
ACCOUNT_WAIT_SECONDS = 30.0
TIMEOUT = urllib3.Timeout(connect=5.0, read=10.0)


@dataclass(frozen=True)
class Outcome:
    """What is compared of an answer. `seen`: a list's item names, or a watch's first event
    type (an ERROR event's Status gives the code, reason and fields)."""

    code: int
    reason: str = ""
    fields: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()

    def __str__(self) -> str:
        shown = f"{self.code} {self.reason}".strip()
        if self.fields:
            shown += f" fields={list(self.fields)}"
        if self.seen:
            shown += f" seen={list(self.seen)}"
        return shown


def outcome_of(code: int, body: Any) -> Outcome:
    if not isinstance(body, dict):
        return Outcome(code)
    if body.get("kind") == "Status" and body.get("status") == "Failure":
        causes = (body.get("details") or {}).get("causes") or []
        fields = tuple(sorted(str(cause.get("field", "")) for cause in causes))
        return Outcome(int(body.get("code") or code), str(body.get("reason", "")), fields)
    if isinstance(body.get("items"), list):
        return Outcome(code, seen=tuple(sorted(name_of(item) for item in body["items"])))
    return Outcome(code)


def name_of(item: JSON) -> str:
    """An item's name; a generated one as its prefix, since each server picks its own suffix."""
    name = str(item["metadata"]["name"])
    return GENERATE_NAME if GENERATED.match(name) else name


def parse(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None  # text: a 404 page, or a log


@dataclass
class Server:
    """One apiserver, and its answers so far (by call id) for the `<rv:ID>` placeholders."""

    url: str
    headers: dict[str, str]
    http: urllib3.PoolManager
    answers: dict[str, JSON] = field(default_factory=dict)

    def _fill(self, text: str) -> str:
        def value(found: re.Match[str]) -> str:
            meta = self.answers[found[2]]["metadata"]
            return str(meta["resourceVersion" if found[1] == "rv" else "uid"])

        return PLACEHOLDER.sub(value, text)

    def _body(self, call: Call) -> bytes | None:
        if call.body is None:
            return None
        if isinstance(call.body, bytes):
            return call.body
        return self._fill(json.dumps(call.body)).encode()

    def request(self, call: Call) -> urllib3.BaseHTTPResponse:
        query = {key: self._fill(value) for key, value in call.query.items()}
        url = self.url + call.path + (f"?{urlencode(query)}" if query else "")
        headers = {**self.headers, "Content-Type": call.content_type, "Accept": "application/json"}
        return self.http.request(
            call.method,
            url,
            body=self._body(call),
            headers=headers,
            preload_content=not call.watch,
            timeout=TIMEOUT,
            retries=False,
        )

    def send(self, call: Call) -> Outcome:
        answer = self.request(call)
        if call.watch:
            return self._watched(answer)
        body = parse(answer.data)
        if isinstance(body, dict) and "metadata" in body:
            self.answers[call.id] = body
        return outcome_of(answer.status, body)

    @staticmethod
    def _watched(answer: urllib3.BaseHTTPResponse) -> Outcome:
        """The first event decides (or the stream's end with none); the rest is not read."""
        try:
            if answer.status != 200:
                return outcome_of(answer.status, parse(answer.read()))
            buffered = b""
            for chunk in answer.stream(4096):
                buffered += chunk
                if b"\n" in buffered:
                    break
            if not buffered.strip():
                return Outcome(200)
            event = json.loads(buffered.split(b"\n", 1)[0])
            if event["type"] == "ERROR":
                return outcome_of(200, event["object"])
            return Outcome(200, seen=(event["type"],))
        finally:
            answer.close()  # a watch still open: its connection goes, not back to the pool

    def version(self) -> str:
        return str(json.loads(self.http.request("GET", f"{self.url}/version").data)["gitVersion"])

    def create(self, path: str, body: JSON) -> None:
        """Set-up, not compared: it must work."""
        answer = self.send(Call(f"setup {path}", "POST", path, body))
        assert answer.code == 201, (path, answer)

    def wait_for_account(self, namespace_name: str) -> None:
        """The ServiceAccount admission plugin refuses pods until `default` exists."""
        path = f"/api/v1/namespaces/{namespace_name}/serviceaccounts/default"
        deadline = time.monotonic() + ACCOUNT_WAIT_SECONDS
        while self.send(Call("setup account", "GET", path)).code != 200:
            assert time.monotonic() < deadline, f"no default ServiceAccount in {namespace_name}"
            time.sleep(0.05)


def set_up(server: Server, names: Names, real: bool) -> None:
    for name in (names.ns, names.other):
        server.create("/api/v1/namespaces", namespace(name, names.label))
    if real:
        server.wait_for_account(names.ns)


def run(server: Server, names: Names, calls: list[Call], real: bool) -> dict[str, Outcome]:
    set_up(server, names, real)
    return {call.id: server.send(call) for call in calls}


def clean_up(server: Server, names: Names) -> None:
    """Delete what the run made (the real namespace controller takes its time: not waited for)."""
    selector = urlencode({"labelSelector": f"diff-run={names.run}"})
    for collection in ("/api/v1/namespaces", "/apis/node.k8s.io/v1/runtimeclasses"):
        listed = server.http.request(
            "GET", f"{server.url}{collection}?{selector}", headers=server.headers
        )
        for item in json.loads(listed.data).get("items", []):
            server.http.request(
                "DELETE",
                f"{server.url}{collection}/{item['metadata']['name']}",
                headers=server.headers,
            )


@contextmanager
def servers(cluster: RealCluster) -> Iterator[tuple[Server, Server]]:
    """The real apiserver (as its admin) and a fresh kubesim whose deleted namespaces linger as
    long as the real ones do (about 10 s, not kubesim's default 2 s at this time scale)."""
    admin = cluster.admin
    real = Server(
        admin.url,
        {"Authorization": f"Bearer {admin.token}"},
        urllib3.PoolManager(ca_certs=str(admin.ca_file)),
    )
    with KubeSim(
        nodes=["node-1", "node-2", "node-3"], time_scale=0.05, namespace_delete_seconds=200
    ) as sim:
        yield real, Server(sim.url, {}, urllib3.PoolManager())


def deliberate_differences() -> dict[str, str]:
    """Request id -> what differs, from the README's table."""
    text = README.read_text()
    assert SECTION in text, f"{README} has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # header, rule
    listed = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        listed[cells[0].strip("`")] = cells[1]
    return listed


def test_kubesim_answers_every_request_as_kube_apiserver_does(
    cluster: RealCluster, record_property: Callable[[str, object], None]
) -> None:
    names = Names(secrets.token_hex(3))
    calls = corpus(names)
    ids = [call.id for call in calls]
    assert len(set(ids)) == len(ids), "request ids must be unique"
    allowed = deliberate_differences()
    with servers(cluster) as (real, sim), ThreadPoolExecutor(2) as pool:
        assert real.version() == VERSION, "kubesim/README.md's table is about another version"
        try:
            real_run = pool.submit(run, real, names, calls, True)
            sim_run = pool.submit(run, sim, names, calls, False)
            expected, actual = real_run.result(), sim_run.result()
        finally:
            clean_up(real, names)
    differing = [call.id for call in calls if expected[call.id] != actual[call.id]]
    line = (
        f"kubesim agrees with kube-apiserver {VERSION} on {len(calls) - len(differing)} "
        f"of {len(calls)} requests"
    )
    print(line)
    record_property("agreement", line)
    problems = [
        f"{id}: kube-apiserver {expected[id]}, kubesim {actual[id]}"
        for id in differing
        if id not in allowed
    ]
    problems += [
        f"{id}: listed in kubesim/README.md as a difference, but not in the corpus"
        for id in allowed
        if id not in expected
    ]
    problems += [
        f"{id}: listed in kubesim/README.md as a difference, but both answer {expected[id]}"
        for id in allowed
        if id in expected and id not in differing
    ]
    assert not problems, "\n".join(problems)
