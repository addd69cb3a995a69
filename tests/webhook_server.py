"""A scripted Slack stand-in for tests: a real HTTP server on an ephemeral 127.0.0.1 port.

Every request is kept (path, headers, JSON body, arrival time); `Webhook.answer` scripts the answers to
the next requests (statuses, slow or dropped connections), after which it answers 200 "ok".
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Arrived:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = 0.0  # time.monotonic() when it arrived (alert latency tests read it)


@dataclass
class Webhook:
    """A scripted webhook: `script` holds the answers for the next requests (then 200 "ok")."""

    url: str
    arrived: list[Arrived] = field(default_factory=list)
    script: deque[tuple[Any, ...]] = field(default_factory=deque)

    def answer(self, *actions: tuple[Any, ...]) -> None:
        """Queue answers: ("status", code[, headers]), ("echo", code), ("slow", seconds), ("drop",)."""
        self.script.extend(actions)

    def bodies(self) -> list[dict[str, Any]]:
        return [a.body for a in self.arrived]


def _handler(hook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            hook.arrived.append(
                Arrived(self.path, dict(self.headers.items()), json.loads(raw), time.monotonic())
            )
            action = hook.script.popleft() if hook.script else ("status", 200)
            if action[0] == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if action[0] == "slow":
                time.sleep(action[1])
                action = ("status", 200)
            code = action[1]
            body = b"ok" if code == 200 else f"error_{code}".encode()
            if action[0] == "echo":  # a server that quotes the request URL back in its error
                body = f"no such hook: http://127.0.0.1{self.path}".encode()
            self.send_response(code)
            for name, value in (action[2] if len(action) > 2 else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serving(path: str) -> Iterator[Webhook]:
    """Serve a `Webhook` until the block ends; its URL is `http://127.0.0.1:PORT{path}`."""
    hook = Webhook(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hook))
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
