"""A fault-injecting HTTP reverse proxy for delivery tests (standard library only).

Put it between the bridge and a FHIR server and switch faults on and off while the bridge runs::

    with FaultProxy("http://127.0.0.1:5555/fhir/R5") as proxy:
        client_base = proxy.base                          # http://127.0.0.1:<port>/fhir/R5
        proxy.set(status(503, count=2))                   # the next two requests get 503, then forward again
        proxy.set(status(429, headers={"Retry-After": "1"}))
        proxy.set(reject(operation_outcome_text="no", when=body_contains(b'"resourceType": "Observation"')))
        proxy.set(delay(5.0), status(500))                # faults combine: at most one delay, then one answer
        proxy.set(refuse())                               # connections refused; the port stays reserved
        proxy.clear()                                     # plain forwarding again
        proxy.requests                                    # [(method, path, status, forwarded), ...]

Each fault except ``refuse`` takes ``count`` (apply to the next N matching requests, then it is removed) and
``when`` (a predicate on ``(method, path, body)``; ``path`` includes the query string). Per request the first
matching ``delay`` is applied, then the first matching answering fault (``status``/``reject``/``drop_connection``);
a request matched by none of those is forwarded. A delayed request is still forwarded after its delay even if the
client has given up (as a slow server would still process it); it is logged with the upstream's status.
"""

from __future__ import annotations

import errno
import http.client
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = [
    "Fault",
    "FaultProxy",
    "LoggedRequest",
    "Predicate",
    "body_contains",
    "delay",
    "drop_connection",
    "refuse",
    "reject",
    "status",
]

Predicate = Callable[[str, str, bytes], bool]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_NOT_FORWARDED_REQUEST = HOP_BY_HOP | {"host", "content-length", "expect"}
_NOT_FORWARDED_RESPONSE = HOP_BY_HOP | {"content-length"}


class LoggedRequest(NamedTuple):
    """One request the proxy saw. ``status`` is None when the connection was dropped without an answer."""

    method: str
    path: str
    status: int | None
    forwarded: bool


@dataclass(frozen=True)
class Fault:
    """A fault: build it with refuse(), delay(), status(), reject() or drop_connection()."""

    kind: str
    count: int | None = None
    when: Predicate | None = None
    seconds: float = 0.0
    code: int = 0
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    reset: bool = False

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1 (or None for 'until cleared')")


def refuse() -> Fault:
    """Connections are refused (the listening socket is closed; the port stays bound, not listening).

    It takes no count or predicate: a refused connection never reaches the proxy, so it cannot be counted or
    inspected. Idle keep-alive connections are closed so that clients reconnect and are refused too.
    """
    return Fault("refuse")


def delay(seconds: float, *, count: int | None = None, when: Predicate | None = None) -> Fault:
    """Hold the request ``seconds`` before forwarding it (or before applying an answering fault)."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    return Fault("delay", count, when, seconds=seconds)


def status(
    code: int,
    body: bytes | str | None = None,
    headers: dict[str, str] | Iterable[tuple[str, str]] | None = None,
    *,
    count: int | None = None,
    when: Predicate | None = None,
) -> Fault:
    """Answer ``code`` without forwarding; ``headers`` e.g. ``{"Retry-After": "1"}``."""
    if isinstance(body, str):
        body = body.encode()
    items = tuple(headers.items()) if isinstance(headers, dict) else tuple(headers or ())
    return Fault("status", count, when, code=code, body=body or b"", headers=items)


def reject(
    code: int = 400,
    operation_outcome_text: str = "rejected by the fault proxy",
    *,
    count: int | None = None,
    when: Predicate | None = None,
) -> Fault:
    """Answer ``code`` (400) with a FHIR OperationOutcome (``application/fhir+json``) without forwarding."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": operation_outcome_text}],
    }
    return Fault(
        "status",
        count,
        when,
        code=code,
        body=json.dumps(outcome).encode(),
        headers=(("Content-Type", "application/fhir+json"),),
    )


def drop_connection(*, count: int | None = None, when: Predicate | None = None, reset: bool = False) -> Fault:
    """Read the request, then close the connection without an answer (``reset=True``: abort with a TCP RST)."""
    return Fault("drop", count, when, reset=reset)


def body_contains(needle: bytes) -> Predicate:
    """A predicate matching requests whose body contains ``needle``."""
    return lambda _method, _path, body: needle in body


@dataclass(eq=False)
class _Active:
    fault: Fault
    remaining: int | None = field(default=None)


def _local_port_floor() -> int:
    """The lowest port the kernel hands out to outgoing connections (ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fp:
            return int(fp.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _listening_server(port: int = 0) -> _Server:
    """The proxy's server on ``port``, or on a free port below the ephemeral range.

    A port from the ephemeral range could be given, as a local port, to an outgoing connection of this machine
    while the proxy listens on it (the listener allows address reuse); refusing connections then could not
    re-bind the port. Below the range, only explicit binds take ports.
    """
    if port:
        return _Server(("127.0.0.1", port), _Handler)
    floor = _local_port_floor()
    for candidate in random.sample(range(max(1024, floor - 12_000), floor), 200):
        try:
            return _Server(("127.0.0.1", candidate), _Handler)
        except OSError:
            continue
    return _Server(("127.0.0.1", 0), _Handler)


def free_port() -> int:
    """A port the proxy can take later (``FaultProxy(..., port=free_port())``).

    For a proxy whose URL must be known before it starts, e.g. by a service that forks worker processes: a
    child forked after the proxy opened its socket would keep the port listening while the proxy refuses.
    """
    server = _listening_server()
    port = int(server.server_address[1])
    server.server_close()
    return port


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # client went away, socket closed under us: not interesting
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    busy = False

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self, add=True)

    def finish(self) -> None:
        self.server.proxy._track(self, add=False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        self.busy = True
        try:
            self.server.proxy._serve(self)
        finally:
            self.busy = False

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


class FaultProxy:
    """A reverse proxy on 127.0.0.1 (ephemeral port) in front of ``upstream_base``; use as a context manager."""

    def __init__(self, upstream_base: str, *, upstream_timeout: float = 30.0, port: int = 0) -> None:
        parts = urlsplit(upstream_base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream_base must be an http(s) URL, got {upstream_base!r}")
        self.upstream_base = upstream_base.rstrip("/")
        self._scheme = parts.scheme
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._upstream_netloc = parts.netloc
        self._base_path = parts.path.rstrip("/")
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()  # faults, log, connections
        self._state_lock = threading.Lock()  # listening/refusing transitions
        self._faults: list[_Active] = []
        self._log: list[LoggedRequest] = []
        self._conns: set[_Handler] = set()
        self._closed = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._refusing = False
        self._wanted_port = port
        self.port = port

    # -- life cycle -------------------------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        """The proxy's base URL, with the upstream's path: ``http://127.0.0.1:<port>/fhir/R5``."""
        if self._server is None and not self._wanted_port:
            raise RuntimeError("the proxy is not started")
        return f"http://127.0.0.1:{self.port}{self._base_path}"

    def start(self) -> FaultProxy:
        if self._server is not None:
            raise RuntimeError("already started")
        server = _listening_server(self._wanted_port)
        server.proxy = self
        self._server = server
        self.port = server.server_address[1]
        self._serve_in_background()
        return self

    def close(self) -> None:
        self._closed.set()
        with self._state_lock:
            server = self._server
            if server is None:
                return
            if not self._refusing:
                server.shutdown()
                assert self._thread is not None
                self._thread.join()
            server.server_close()
            self._close_connections(idle_only=False)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve_in_background(self) -> None:
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )
        self._thread.start()

    # -- faults -----------------------------------------------------------------------------------------------------

    def set(self, *faults: Fault) -> None:
        """Replace the active faults with ``faults`` (none: same as :meth:`clear`)."""
        with self._lock:
            self._faults = [_Active(f, f.count) for f in faults]
        self._sync_refusing()

    def add(self, *faults: Fault) -> None:
        """Add ``faults`` after the active ones."""
        with self._lock:
            self._faults.extend(_Active(f, f.count) for f in faults)
        self._sync_refusing()

    def clear(self) -> None:
        """Remove every fault: plain forwarding (and listening again after :func:`refuse`)."""
        self.set()

    @property
    def faults(self) -> list[tuple[Fault, int | None]]:
        """The active faults with their remaining counts."""
        with self._lock:
            return [(a.fault, a.remaining) for a in self._faults]

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the log of requests seen: ``(method, path, status answered, forwarded)``."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[LoggedRequest]:
        """Wait until at least ``n`` requests are logged; returns the log (raises TimeoutError when late)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.requests
            if len(log) >= n:
                return log
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(log)} requests logged, waited for {n}")
            time.sleep(0.01)

    # -- refusing ---------------------------------------------------------------------------------------------------

    def _sync_refusing(self) -> None:
        with self._lock:
            want = any(a.fault.kind == "refuse" for a in self._faults)
        with self._state_lock:
            server = self._server
            if server is None or self._closed.is_set() or want == self._refusing:
                return
            if want:
                server.shutdown()
                assert self._thread is not None
                self._thread.join()
                server.socket.close()
                server.socket = self._reserve_port()
                self._refusing = True
                self._close_connections(idle_only=True)
            else:
                # Let the listen-time port check pass next to the old connections' sockets, then listen again.
                server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.socket.listen(server.request_queue_size)
                self._refusing = False
                self._serve_in_background()

    def _reserve_port(self) -> socket.socket:
        """A socket bound to our port but not listening: connecting gets ECONNREFUSED, nobody else can bind it."""
        deadline = time.monotonic() + 2.0
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                try:
                    sock.bind(("127.0.0.1", self.port))
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise
                    # Old connections (or TIME_WAIT) still hold the port: allowed with SO_REUSEADDR, no listener.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(("127.0.0.1", self.port))
                # Without SO_REUSEADDR on our socket, nobody else can bind the port while we are not listening.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
                return sock
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _track(self, handler: _Handler, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(handler)
            else:
                self._conns.discard(handler)

    def _close_connections(self, *, idle_only: bool) -> None:
        with self._lock:
            conns = [h for h in self._conns if not (idle_only and h.busy)]
        for handler in conns:
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- serving ----------------------------------------------------------------------------------------------------

    def _pick(self, method: str, path: str, body: bytes) -> tuple[Fault | None, Fault | None]:
        """The first matching delay and the first matching answering fault; counts are spent here."""
        chosen: dict[str, Fault] = {}
        with self._lock:
            for active in list(self._faults):
                fault = active.fault
                slot = "delay" if fault.kind == "delay" else "answer"
                if fault.kind == "refuse" or slot in chosen:
                    continue
                if fault.when is not None and not fault.when(method, path, body):
                    continue
                chosen[slot] = fault
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining <= 0:
                        self._faults.remove(active)
        return chosen.get("delay"), chosen.get("answer")

    def _serve(self, h: _Handler) -> None:
        method, path = h.command, h.path
        try:
            body = _read_body(h)
        except (ValueError, OSError):
            h.close_connection = True
            self._answer(h, 400, b"bad request body", [("Content-Type", "text/plain")])
            self._record(method, path, 400, False)
            return
        delay_fault, answer = self._pick(method, path, body)
        if delay_fault is not None and self._closed.wait(delay_fault.seconds):
            h.close_connection = True  # proxy closing while the request was held
            self._record(method, path, None, False)
            return
        if answer is not None and answer.kind == "drop":
            h.close_connection = True
            if answer.reset:
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self._record(method, path, None, False)
            return
        if answer is not None:
            self._answer(h, answer.code, answer.body, list(answer.headers))
            self._record(method, path, answer.code, False)
            return
        try:
            code, reason, headers, resp_body = self._forward(method, path, _forwarded_headers(h), body)
        except (OSError, http.client.HTTPException) as exc:
            self._answer(h, 502, f"fault proxy: upstream failed: {exc!r}".encode(), [("Content-Type", "text/plain")])
            self._record(method, path, 502, False)
            return
        self._record(method, path, code, True)
        try:
            self._answer(h, code, resp_body, headers, reason=reason)
        except OSError:
            h.close_connection = True  # the client gave up (e.g. timed out during a delay)

    def _record(self, method: str, path: str, code: int | None, forwarded: bool) -> None:
        with self._lock:
            self._log.append(LoggedRequest(method, path, code, forwarded))

    def _forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn_cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(self._upstream_host, self._upstream_port, timeout=self.upstream_timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self._upstream_netloc)
            for name, value in headers:
                conn.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            resp_body = resp.read()
            bodiless = _bodiless(method, resp.status)
            dropped = HOP_BY_HOP if bodiless else _NOT_FORWARDED_RESPONSE  # keep the length of a HEAD/304 answer
            resp_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in dropped]
            return resp.status, resp.reason, resp_headers, resp_body
        finally:
            conn.close()

    @staticmethod
    def _answer(
        h: _Handler,
        code: int,
        body: bytes,
        headers: list[tuple[str, str]],
        *,
        reason: str | None = None,
    ) -> None:
        h.send_response_only(code, reason)
        has_length = False
        for name, value in headers:
            h.send_header(name, value)
            has_length = has_length or name.lower() == "content-length"
        if not has_length and code >= 200 and code not in (204, 304):
            h.send_header("Content-Length", str(len(body)))
        if h.close_connection:
            h.send_header("Connection", "close")
        h.end_headers()
        if body and not _bodiless(h.command, code):
            h.wfile.write(body)
        h.wfile.flush()


def _bodiless(method: str, code: int) -> bool:
    return method == "HEAD" or code < 200 or code in (204, 304)


def _forwarded_headers(h: BaseHTTPRequestHandler) -> list[tuple[str, str]]:
    """The request's end-to-end headers (hop-by-hop ones and those named in ``Connection`` dropped)."""
    named = {
        token.strip().lower()
        for value in h.headers.get_all("Connection", [])
        for token in value.split(",")
        if token.strip()
    }
    return [(k, v) for k, v in h.headers.items() if k.lower() not in _NOT_FORWARDED_REQUEST and k.lower() not in named]


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        chunks = []
        while True:
            size_line = h.rfile.readline(65537)
            if not size_line:
                raise ValueError("truncated chunked body")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while h.rfile.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline(3)
    length = int(h.headers.get("Content-Length") or 0)
    body = h.rfile.read(length) if length else b""
    if len(body) != length:
        raise ValueError("truncated body")
    return body
