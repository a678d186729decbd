"""Presentations and the Jupyter guide over real HTTP: what a lab front end builds its tabs
from. The devices' logins go only to callers holding the API token; web pages get their URL
under the presentation domain, through Ingresses the real worker made on kubesim."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lessons.manifests import TLS_NAME
from lessons.naming import GUIDE_NAME, ingress_host
from tests.api.conftest import Intake, running_intake
from tests.api.helpers import LESSONS, create, wait_for_state
from tests.support.kube import ClusterView
from tests.support.stack import Stack

TOKEN = "presentations-token"
DOMAIN = "labs.example.com"


@pytest.fixture(scope="module")
def web_intake(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """An intake on the shared stack (its instance: it sees the same lessons) with the API
    token, publishing web pages under a domain with TLS."""
    ClusterView(stack.sim.url).certificate("lab-system", "labs-tls")
    workdir = Path(tmp_path_factory.mktemp("presentations"))
    settings = {
        "api_token": TOKEN,
        "presentation_domain": DOMAIN,
        "presentation_tls_secret": "labs-tls",
        "namespace": "lab-system",
    }
    with running_intake(stack, workdir, "web", **settings) as intake:
        yield intake


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def test_with_the_token_the_presentations_give_logins_urls_and_the_guide(
    web_intake: Intake, api: httpx.Client, stack: Stack, session_id: str
) -> None:
    with web_intake.client(headers={"authorization": f"Bearer {TOKEN}"}) as holder:
        created = create(holder, session_id, lesson="bgp-spine-leaf")
        assert created["guide"] is None and created["endpoints"] is None
        ready = wait_for_state(holder, created["id"], ("READY", "FAILED"), timeout=90)
    assert ready["state"] == "READY", ready["error"]
    namespace = ready["namespace"]
    server1 = by_name(ready["endpoints"])["server1"]
    host = f"server1.{namespace}.svc"
    cli, web = server1["presentations"]
    # ssh: the image's login; nothing that does not apply (no url).
    assert cli == {
        "name": "cli",
        "type": "ssh",
        "port": 22,
        "host": host,
        "ssh_user": "antidote",
        "ssh_password": "antidotepassword",
    }
    # http: its page through an Ingress, with TLS; no login.
    assert set(web) == {"name", "type", "port", "host", "url"}
    assert (web["name"], web["type"], web["port"], web["host"]) == ("web", "http", 8080, host)
    assert web["url"] == f"https://{ingress_host(DOMAIN, namespace, 'server1', 'web')}/"
    guide = ready["guide"]
    assert set(guide) == {"type", "service", "host", "port", "url"}
    assert (guide["type"], guide["service"], guide["port"]) == ("jupyter", GUIDE_NAME, 8888)
    assert guide["host"] == f"{GUIDE_NAME}.{namespace}.svc"
    assert guide["url"] == f"https://{ingress_host(DOMAIN, namespace, GUIDE_NAME)}/"
    assert GUIDE_NAME not in by_name(ready["endpoints"])
    assert ready["healthy"] == ready["total"] == 8

    # The worker made what the URLs name: an Ingress per page, with the certificate copied in.
    view = ClusterView(stack.sim.url)
    ingresses = view.networking.list_namespaced_ingress(namespace).items
    hosts = {i.spec.rules[0].host: i for i in ingresses}
    assert set(hosts) == {url.split("/")[2] for url in (web["url"], guide["url"])}
    backend = hosts[web["url"].split("/")[2]].spec.rules[0].http.paths[0].backend.service
    assert (backend.name, backend.port.number) == ("server1", 8080)
    assert all(i.spec.tls[0].secret_name == TLS_NAME for i in ingresses)
    assert view.get("Secret", namespace, TLS_NAME)["type"] == "kubernetes.io/tls"

    # The same lesson, from an intake without a token: anyone could read it, so no logins.
    seen = api.get(f"{LESSONS}/{created['id']}").json()
    assert by_name(seen["endpoints"])["server1"]["presentations"] == [
        {key: value for key, value in cli.items() if not key.startswith("ssh_")},
        web,
    ]
    assert seen["guide"] == guide

    response = api.delete(f"{LESSONS}/{created['id']}")
    assert response.status_code == 202, response.text
    gone = wait_for_state(api, created["id"], ["GONE"], timeout=30)
    assert gone["endpoints"] is None and gone["guide"] is None


def test_without_a_presentation_domain_pages_are_reached_inside_the_cluster(
    api: httpx.Client, session_id: str
) -> None:
    ready = wait_for_state(api, create(api, session_id, lesson="linux-basics")["id"], ["READY"])
    [linux1] = ready["endpoints"]
    # No token is configured: logins are never shown.
    assert linux1["presentations"] == [
        {"name": "cli", "type": "ssh", "port": 22, "host": f"linux1.{ready['namespace']}.svc"}
    ]
    assert ready["guide"] is None  # its guide is markdown
    assert api.delete(f"{LESSONS}/{ready['id']}").status_code == 202
