"""The HTTP/1.1 front end: keep-alive, TCP_NODELAY, JSON bodies, chunked watch streams."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from kubesim import errors, logs, params, routing, tables
from kubesim.api import DeleteOptions, WriteOptions, patch_types
from kubesim.decoding import IGNORE, STRICT, WARN
from kubesim.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from kubesim.validation import not_supported
from kubesim.watching import WatchRequest, WatchStream

if TYPE_CHECKING:
    from kubesim.cluster import Cluster

JSON = dict[str, Any]
PROTOBUF = "application/vnd.kubernetes.protobuf"
# what the apiserver decodes a create or update from (kubesim: JSON only; README)
BODY_TYPES = ["application/json", "application/yaml", PROTOBUF]
DEFAULT_WATCH_SECONDS = 1800  # the apiserver picks 30-60 minutes when the client sets none
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024  # the apiserver's MaxRequestBodyBytes


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], cluster: Cluster) -> None:
        self.cluster = cluster
        super().__init__(address, Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # without it, Nagle plus delayed ACKs cost ~40 ms per keep-alive request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimHTTPServer
    server_version = "kubesim"
    _headers_buffer: list[bytes]  # BaseHTTPRequestHandler's, filled by send_header

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a busy test run would drown in access logs."""

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = lambda self: self._handle()

    # plumbing

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, raw: bytes, kind: str = "") -> Any:
        """The JSON of a body. With `kind`, an object to create or update: its media type must be
        one the apiserver's serializers know, and it may not be empty (a DeleteOptions or a patch
        is read regardless)."""
        content_type = (
            (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        )
        if kind and content_type not in BODY_TYPES:
            raise errors.unsupported_media_type(BODY_TYPES)
        if not raw and kind:
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {kind}): couldn't get "
                "version/kind; json parse error: unexpected end of JSON input (<empty>)"
            )
        if not raw:
            return {}
        if content_type == PROTOBUF:
            raise errors.unsupported_media_type(["application/json"])
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = body if isinstance(body, bytes) else dumps(body)
        self.send_response(code)
        self.send_header(
            "Content-Type",
            "application/json" if not isinstance(body, bytes) else "text/plain; charset=utf-8",
        )
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # headers and body in one write: one syscall, one TCP segment for small answers
        self._headers_buffer.append(b"\r\n" + payload)
        self.flush_headers()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # already gone
            self.connection.shutdown(socket.SHUT_RDWR)

    # dispatch

    def _handle(self) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        query = {
            key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()
        }
        segments = [s for s in url.path.split("/") if s]
        path = "/" + "/".join(segments)  # the client asks for /version/
        raw = self._read_body()
        if segments[:1] == ["_sim"]:
            self._admin(segments[1:], raw)
            return
        verb, resource = "get", path
        try:
            route = routing.resolve(
                cluster.registry, self.command, segments, params.flag(query, "watch")
            )
        except errors.ApiError as exc:
            self._finish(verb, resource, exc)
            return
        if route is not None:
            verb, resource = route.verb, route.resource
            if not route.allowed:
                self._finish(verb, resource, errors.method_not_allowed())
                return
        decision = cluster.faults.decide(verb, resource)
        delay = cluster.config.api_latency + decision.latency
        if delay:
            time.sleep(delay)
        if decision.drop:
            cluster.stats.record(verb, resource, "dropped")
            self._drop()
            return
        if decision.error is not None:
            self._finish(verb, resource, decision.error)
            return
        try:
            if route is None:
                self._nonresource(path, segments)
            elif route.verb == "watch":
                self._watch(route, query)
            else:
                code, body, headers = self._resource(route, query, raw)
                if (
                    tables.wants_table(self.headers.get("Accept", ""))
                    and route.verb in ("get", "list")
                    and not isinstance(body, bytes)  # a log is text, never a Table
                ):
                    body = tables.to_table(route.rt, body)
                self._answer(verb, resource, code, body, headers)
            return
        except errors.ApiError as exc:
            self._finish(verb, resource, exc)
        except Exception as exc:
            # a kubesim bug: answer as the apiserver does for a panic, and say where on stderr
            traceback.print_exc(file=sys.stderr)
            self._finish(verb, resource, errors.internal_error(repr(exc)))

    def _answer(
        self, verb: str, resource: str, code: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        """Count, then send: a client that has its answer also sees it in the stats."""
        self.server.cluster.stats.record(verb, resource, code)
        self._send(code, body, headers)

    def _finish(self, verb: str, resource: str, error: errors.ApiError) -> None:
        body = (error.message + "\n").encode() if error.plain else error.status()
        self._answer(verb, resource, error.code, body, error.headers)

    def _nonresource(self, path: str, segments: list[str]) -> None:
        cluster = self.server.cluster
        if path in ("/healthz", "/livez", "/readyz"):
            self._answer("get", path, 200, b"ok")
            return
        body = cluster.discovery(path, segments)
        if body is None:
            raise routing.unknown_path(cluster.registry, segments)
        self._answer("get", path, 200, body)

    def _resource(
        self, route: routing.Route, query: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        api = self.server.cluster.api
        rt, ns, name = route.rt, route.namespace or "", route.name
        if route.verb == "get" and route.subresource == "log":
            config = self.server.cluster.config
            return 200, logs.read_log(api, config, ns, name, query), {}
        if route.verb == "get":
            return 200, api.get(rt, ns, name), {}
        if route.verb == "list":
            labels, fields = self._selectors(route, query)
            params.optional_int(query, "timeoutSeconds")  # parsed (and refused) as upstream
            limit = params.optional_int(query, "limit") or 0
            body = api.list_objects(
                rt, route.namespace, labels, fields, limit, query.get("continue", "")
            )
            return 200, body, {}
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if route.verb == "patch" and content_type not in patch_types(rt):
            raise errors.unsupported_patch_type()  # go-restful's route match, before the handler
        if len(raw) > MAX_REQUEST_BODY_BYTES:  # limitedReadBody, before anything is decoded
            raise errors.request_entity_too_large(MAX_REQUEST_BODY_BYTES)
        if route.verb == "create":
            body = self._json_body(raw, rt.kind)
            result = api.create(rt, ns, body, write_options(route.verb, query))
        elif route.verb == "update":
            options = write_options(route.verb, query)
            body = self._json_body(raw, rt.kind)
            result = api.replace(rt, ns, name, body, route.subresource, options)
        elif route.verb == "patch":
            options = write_options(route.verb, query)
            result = api.patch(
                rt, ns, name, content_type, self._json_body(raw), route.subresource, options
            )
        else:
            deleting = DeleteOptions.from_request(self._json_body(raw), query)
            if route.verb != "delete":
                labels, fields = self._selectors(route, query)
                return 200, api.delete_collection(rt, route.namespace, labels, fields, deleting), {}
            result = api.delete(rt, ns, name, deleting)
        return result.code, result.body, warning_headers(result.warnings)

    @staticmethod
    def _selectors(
        route: routing.Route, query: dict[str, str]
    ) -> tuple[LabelSelector, FieldSelector]:
        return (
            parse_label_selector(query.get("labelSelector")),
            parse_field_selector(query.get("fieldSelector"), route.rt.plural),
        )

    # watch

    def _watch(self, route: routing.Route, query: dict[str, str]) -> None:
        labels, fields = self._selectors(route, query)
        since_text = query.get("resourceVersion") or ""
        if since_text and not (since_text.isascii() and since_text.isdigit()):
            # the watch cache's ParseResourceVersion: a storage error, so a 500 with no reason
            raise errors.unknown(
                f'resourceVersion: Invalid value: "{since_text}": strconv.ParseUint: parsing '
                f'"{since_text}": invalid syntax'
            )
        since = int(since_text) if since_text not in ("", "0") else None
        request = WatchRequest(
            route.rt,
            route.namespace,
            labels,
            fields,
            since,
            # 0 or none: the apiserver's own choice (30 to 60 minutes)
            params.optional_int(query, "timeoutSeconds") or DEFAULT_WATCH_SECONDS,
            params.flag(query, "allowWatchBookmarks"),
        )
        self.server.cluster.stats.record("watch", route.resource, 200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            WatchStream(self.server.cluster, request, self._chunk, self.connection).run()
            self._chunk_end()
        except OSError:
            self.close_connection = True  # the client went away

    def _chunk(self, event: JSON) -> None:
        data = dumps(event) + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _chunk_end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # admin

    def _admin(self, segments: list[str], raw: bytes) -> None:
        cluster = self.server.cluster
        what, method = segments[0] if segments else "", self.command
        try:
            if what == "stats" and method == "GET":
                self._send(200, cluster.stats_snapshot())
            elif what == "faults" and method == "GET":
                self._send(200, {"rules": [r.model_dump() for r in cluster.faults.rules]})
            elif what == "faults" and method in ("PUT", "POST", "DELETE"):
                body = self._json_body(raw) if method != "DELETE" else {"rules": []}
                rules = body.get("rules", []) if isinstance(body, dict) else body
                cluster.set_faults(rules)
                self._send(200, {"rules": [r.model_dump() for r in cluster.faults.rules]})
            elif what == "reset" and method == "POST":
                cluster.reset()
                self._send(200, {"status": "reset"})
            else:
                self._send(404, b"404 page not found\n")
        except (ValueError, errors.ApiError) as exc:
            self._send(400, {"error": str(exc)})


FIELD_VALIDATIONS = ("", IGNORE, STRICT, WARN)


def write_options(verb: str, query: dict[str, str]) -> WriteOptions:
    """dryRun and fieldValidation, refused as ValidateCreateOptions (and co.) refuse them."""
    directive = query.get("fieldValidation", "")
    if directive not in FIELD_VALIDATIONS:
        kind = {"create": "CreateOptions", "update": "UpdateOptions"}.get(verb, "PatchOptions")
        cause = not_supported("fieldValidation", directive, FIELD_VALIDATIONS)
        raise errors.invalid(kind, "meta.k8s.io", "", [cause])
    return WriteOptions(query.get("dryRun") == "All", directive or WriteOptions.field_validation)


def warning_headers(warnings: list[str]) -> dict[str, str]:
    """RFC 7234 Warning values as the apiserver sends them: code 299, agent "-", quoted text."""
    if not warnings:
        return {}
    quoted = (w.replace("\\", "\\\\").replace('"', '\\"') for w in warnings)
    return {"Warning": ", ".join(f'299 - "{w}"' for w in quoted)}
