"""A Slack-compatible incoming webhook for tests: a real HTTP server in a thread that
records each POST's JSON and answers what the test scripted (default 200 ``ok``)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: the webhook's secret path (what a real URL carries after /services/)
PATH = "/services/T000/B000/s3cretT0ken"


@dataclass
class Answer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ChatWebhook:
    url: str
    #: (path, JSON body) of every POST, in order
    posts: list[tuple[str, Any]] = field(default_factory=list)
    #: answers for the next POSTs, in order (then 200)
    script: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[Any]:
        with self.lock:
            return [body for _, body in self.posts]


@contextmanager
def chat_webhook() -> Iterator[ChatWebhook]:
    hook: ChatWebhook

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with hook.lock:
                hook.posts.append((self.path, json.loads(raw)))
                answer = hook.script.pop(0) if hook.script else Answer()
            if self.path != PATH:
                answer = Answer(404, "no_service")
            body = answer.body.encode()
            self.send_response(answer.status)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook = ChatWebhook(url=f"http://127.0.0.1:{server.server_address[1]}{PATH}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
