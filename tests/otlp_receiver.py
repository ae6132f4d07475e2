"""A real OTLP/HTTP receiver for tests: a local HTTP server that takes what an OTLP
exporter posts to ``/v1/traces`` (protobuf), decodes it with opentelemetry-proto and keeps
the spans, or answers as a broken collector would (``mode``: ``ok``, ``fail`` (HTTP 500)
or ``hang`` (no answer for ``hang_s``))."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def attributes(kvs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs}


@dataclass
class Span:
    name: str
    kind: int
    span_id: bytes
    parent_span_id: bytes
    trace_id: bytes
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    resource: dict[str, Any]


@dataclass
class Receiver:
    mode: str = "ok"
    hang_s: float = 30.0
    url: str = ""
    requests: list[ExportTraceServiceRequest] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    posts: int = 0

    @property
    def spans(self) -> list[Span]:
        found: list[Span] = []
        for req in self.requests:
            for rs in req.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        found.append(
                            Span(
                                s.name,
                                s.kind,
                                s.span_id,
                                s.parent_span_id,
                                s.trace_id,
                                s.start_time_unix_nano,
                                s.end_time_unix_nano,
                                attributes(s.attributes),
                                s.status.code,
                                s.status.message,
                                resource,
                            )
                        )
        return found

    def wait_for_spans(self, timeout_s: float = 20.0) -> list[Span]:
        deadline = time.monotonic() + timeout_s
        while not self.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.spans


@contextmanager
def otlp_receiver(mode: str = "ok", hang_s: float = 30.0) -> Iterator[Receiver]:
    receiver = Receiver(mode=mode, hang_s=hang_s)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.posts += 1
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            if receiver.mode == "hang":
                time.sleep(receiver.hang_s)  # the client gave up long before
                return
            if receiver.mode != "ok":
                self.send_error(500, "collector broken")
                return
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            receiver.requests.append(request)
            receiver.content_types.append(self.headers.get("Content-Type", ""))
            payload = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL nothing listens on (a port bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
