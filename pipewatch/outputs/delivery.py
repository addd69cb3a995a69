"""Posting a JSON payload to a webhook (Slack) over HTTP, with time limits and retries that respect the server.

Standard library only (`urllib.request`): no HTTP client dependency for one POST. What is retried,
within one call: 429 (after `Retry-After` when the server sends one), 5xx, timeouts, refused or
dropped connections. What is not: any other 4xx (the payload or the webhook is wrong; asking again
changes nothing: the result is `final`), or a 2xx whose body is not Slack's `ok`. The webhook URL is
a secret (whoever holds it can post to the channel): it is never part of a result or an exception;
`mask_url` and `mask_secrets` hide it in anything that is shown.

Time is bounded twice. A socket timeout bounds each wait for a byte, which a server trickling one byte
at a time never hits; so each whole request also has a wall-clock limit (`request_s`), enforced by
closing its socket when it runs out, and the whole call a budget (`budget_s`) its retries fit in.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from pipewatch import __version__
from pipewatch.backoff import Backoff
from pipewatch.errors import ConfigError

SLACK_MASK = "https://hooks.slack.com/services/***"
# Slack's webhook hosts and paths: the secret is everything after the path prefix.
_SLACK_HOOK = re.compile(r"https?://hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/[\w/*-]*")
_BODY_LIMIT = 300


def mask_url(url: str) -> str:
    """The webhook URL as it may be shown: Slack's host with the secret path replaced by `***`."""
    if _SLACK_HOOK.fullmatch(url.strip()):
        return SLACK_MASK
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "***"
    if parts.scheme and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}/***"
    return "***"


def mask_secrets(text: str, url: str | None = None) -> str:
    """`text` with the webhook URL (and any Slack webhook URL at all) replaced by its masked form."""
    if url:
        for form in {url, url.strip()}:
            text = text.replace(form, mask_url(url))
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            parts = None
        # The secret is the path (and query): mask it wherever it shows up, with or without the host.
        for secret in (parts.path, parts.query) if parts else ():
            if len(secret) >= 8:
                text = text.replace(secret, "/***" if secret.startswith("/") else "***")
    return _SLACK_HOOK.sub(SLACK_MASK, text)


def check_webhook_url(url: str) -> str:
    """The URL, stripped, if it is an http(s) URL with a host; ConfigError (URL masked) otherwise.

    urllib would also open `file:` and `ftp:` URLs; a webhook setting must never read local files.
    """
    stripped = url.strip()
    try:
        parts = urlsplit(stripped)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(
            f"Slack webhook URL {mask_url(stripped)} is not an http(s) URL "
            "(PIPEWATCH_SLACK_WEBHOOK or slack.webhook_url in pipewatch.yml)"
        )
    return stripped


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard one delivery tries: time limits, attempts, and the backoff between them."""

    timeout_s: float = 10.0  # the longest wait for any one byte (connect, each read)
    request_s: float = 15.0  # the longest one whole request may take, wall clock
    attempts: int = 4  # requests in total, the first included
    backoff_s: float = 1.0  # first wait; doubles each retry, with jitter
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 60.0  # a longer Retry-After is not waited out: the alert stays queued
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    #: Draws the jitter, `uniform(low, high)`; injectable so a test can see the exponential ceilings.
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (1-based): exponential, capped, with full jitter."""
        return Backoff(base=self.backoff_s, cap=self.max_backoff_s, uniform=self.uniform).delay(retry - 1)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What happened to one payload: delivered or not, after how many requests, and why not."""

    ok: bool
    status: int | None  # the last HTTP status, None when no response came back
    attempts: int
    error: str | None = None  # one line, webhook URL masked
    retryable: bool = False  # a later run may succeed (rate limit, server or network trouble)
    waited_s: float = 0.0

    @property
    def final(self) -> bool:
        """True when the receiver refused the payload for good (a 4xx other than 429): never resend it."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; following it would turn the POST into a GET."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        """No new request: urllib then answers the redirect with an HTTPError carrying its status."""
        return None


class _Deadline:
    """A wall-clock limit on one request: when it runs out, the request's socket is shut down.

    A blocked read then returns at once (as a dropped connection), however slowly the server trickles.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket | None) -> None:
        """The socket to shut down when time runs out (at once, if it already has)."""
        with self._lock:
            self._socket = sock
            if self.expired:
                self._shutdown()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._socket is not None:
            # Already closed: nothing left to stop. The plain socket's shutdown, also for TLS:
            # SSLSocket's would race the reading thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)


def _watched_opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """An opener (proxies and TLS as urllib's own) whose connections report their socket to `deadline`."""

    class HTTPConnection(http.client.HTTPConnection):
        """http.client's connection, reporting its socket once connected."""

        def connect(self) -> None:
            """Connect, then hand the socket to the deadline."""
            super().connect()
            deadline.watch(self.sock)

    class HTTPSConnection(http.client.HTTPSConnection):
        """http.client's TLS connection, reporting its socket once connected."""

        def connect(self) -> None:
            """Connect (TLS handshake included), then hand the socket to the deadline."""
            super().connect()
            deadline.watch(self.sock)

    class HTTPHandler(urllib.request.HTTPHandler):
        """urllib's http handler, opening watched connections."""

        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            """Open `req` on a watched connection."""
            return self.do_open(HTTPConnection, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        """urllib's https handler, opening watched connections."""

        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            """Open `req` on a watched TLS connection."""
            return self.do_open(HTTPSConnection, req)

    return urllib.request.build_opener(_NoRedirect(), HTTPHandler(), HTTPSHandler())


def retry_after_seconds(
    headers: Message | Mapping[str, str] | None, now: float | None = None
) -> float | None:
    """The wait a `Retry-After` header asks for (seconds or an HTTP date), or None if absent/unreadable."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _read_snippet(response: Any) -> str:
    try:
        data: bytes = response.read(_BODY_LIMIT)
    except (OSError, http.client.HTTPException):
        return ""
    return " ".join(data.decode("utf-8", "replace").split())


def _accepted(body: str) -> bool:
    """Whether a 2xx body says the message was taken: Slack's `ok` (workflow webhooks: `{"ok": true}`)."""
    if body == "ok":
        return True
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("ok") is True


def post_json(
    url: str,
    payload: Mapping[str, Any],
    policy: DeliveryPolicy | None = None,
    *,
    budget_s: float | None = None,
) -> DeliveryResult:
    """POST `payload` as JSON to `url`, retrying per `policy`; never raises for HTTP or network trouble.

    Each request takes at most `policy.request_s` seconds, and all attempts and waits together at
    most `budget_s` (unbounded when None). A bad URL (not http/https) is a ConfigError. The result's
    `error` never contains the URL.
    """
    policy = policy or DeliveryPolicy()
    deadline = time.monotonic() + (budget_s if budget_s is not None else float("inf"))
    result = _post(check_webhook_url(url), payload, policy, deadline)
    if result.error:
        # Whatever the server or the network said, the webhook URL does not leave this function.
        result = replace(result, error=mask_secrets(result.error, url))
    return result


def _request(target: str, body: bytes) -> urllib.request.Request:
    return urllib.request.Request(
        target,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"pipewatch/{__version__}",
        },
    )


def _post(target: str, payload: Mapping[str, Any], policy: DeliveryPolicy, deadline: float) -> DeliveryResult:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    waited = 0.0
    status: int | None = None
    error = "not attempted"
    attempts = max(1, policy.attempts)
    attempt = 0
    while attempt < attempts:
        attempt += 1
        limit = min(policy.request_s, deadline - time.monotonic())
        if limit <= 0:
            attempt -= 1
            error = "out of time for delivery"
            break
        wait: float | None = None
        with _Deadline(limit) as watchdog:
            try:
                opener = _watched_opener(watchdog)
                with opener.open(_request(target, body), timeout=min(policy.timeout_s, limit)) as response:
                    status = int(response.status)
                    snippet = _read_snippet(response)
                if watchdog.expired:
                    raise TimeoutError
                if 200 <= status < 300 and _accepted(snippet):
                    return DeliveryResult(True, status, attempt, None, False, waited)
                # A 2xx that is not `ok`, or a 1xx/3xx urllib hands back: nothing a retry now will fix.
                return DeliveryResult(
                    False, status, attempt, f"HTTP {status}: {snippet or 'empty answer'}", True, waited
                )
            except urllib.error.HTTPError as exc:
                status = exc.code
                snippet = _read_snippet(exc)
                error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
                if status == 429:
                    wait = retry_after_seconds(exc.headers)
                    if wait is not None and wait > policy.max_retry_after_s:
                        return DeliveryResult(
                            False, status, attempt, f"{error} (Retry-After {wait:g}s)", True, waited
                        )
                elif not 500 <= status < 600:
                    return DeliveryResult(False, status, attempt, error, False, waited)
            except urllib.error.URLError as exc:
                status = None
                error = f"cannot connect: {_reason(exc.reason)}"
            except TimeoutError:
                status = None
                error = f"timed out after {policy.timeout_s:g}s"
            except (http.client.HTTPException, OSError) as exc:
                # RemoteDisconnected, ConnectionResetError, IncompleteRead: the server dropped us mid-way.
                status = None
                error = f"connection dropped: {_reason(exc)}"
        if watchdog.expired:
            status = None
            error = f"no complete answer within {limit:g}s"
        if attempt < attempts:
            delay = wait if wait is not None else policy.backoff(attempt)
            if time.monotonic() + delay >= deadline:
                break  # the wait would outlast the budget: leave the rest to a later run
            policy.sleep(delay)
            waited += delay
    return DeliveryResult(False, status, attempt, f"{error} (after {attempt} attempts)", True, waited)


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    text = str(reason).strip() or type(reason).__name__
    return " ".join(text.split())
