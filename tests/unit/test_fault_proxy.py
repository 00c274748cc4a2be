"""The fault-injecting proxy used by delivery tests: forwarding, each fault, counts, predicates, the request log."""

from __future__ import annotations

import errno
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.fault_proxy import (
    FaultProxy,
    LoggedRequest,
    body_contains,
    delay,
    drop_connection,
    refuse,
    reject,
    status,
)

OBSERVATION = b'{"resourceType": "Observation", "status": "final"}'
PATIENT = b'{"resourceType": "Patient", "id": "p1"}'


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Upstream

    def _echo(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.count += 1
            n = self.server.count
        payload = json.dumps(
            {
                "n": n,
                "method": self.command,
                "path": self.path,
                "body": body.decode(),
                "host": self.headers.get("Host"),
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        ).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "echo")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = _echo

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True
    count = 0
    lock = threading.Lock()


@pytest.fixture(scope="module")
def upstream() -> Iterator[_Upstream]:
    server = _Upstream(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def proxy(upstream: _Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(f"http://127.0.0.1:{upstream.server_address[1]}/fhir/R5") as p:
        yield p


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def _upstream_count(upstream: _Upstream) -> int:
    with upstream.lock:
        return upstream.count


def test_forwards_methods_paths_queries_headers_and_bodies(
    proxy: FaultProxy, client: httpx.Client, upstream: _Upstream
) -> None:
    assert proxy.base == f"http://127.0.0.1:{proxy.port}/fhir/R5"
    got = client.get(f"{proxy.base}/Patient?identifier=a|b", headers={"X-Trace": "t1"})
    assert got.status_code == 200
    assert got.headers["x-upstream"] == "echo"
    echo = got.json()
    assert (echo["method"], echo["path"], echo["body"]) == ("GET", "/fhir/R5/Patient?identifier=a|b", "")
    assert echo["host"] == f"127.0.0.1:{upstream.server_address[1]}"
    assert echo["headers"]["x-trace"] == "t1"

    put = client.put(f"{proxy.base}/Patient/p1", content=PATIENT, headers={"Content-Type": "application/fhir+json"})
    assert put.status_code == 200
    assert (put.json()["method"], put.json()["body"]) == ("PUT", PATIENT.decode())
    assert put.json()["headers"]["content-type"] == "application/fhir+json"

    post = client.post(f"{proxy.base}/", content=OBSERVATION)
    assert post.status_code == 201
    echoed = post.json()
    assert (echoed["method"], echoed["path"], echoed["body"]) == ("POST", "/fhir/R5/", OBSERVATION.decode())

    # A chunked request body is forwarded whole; hop-by-hop headers (and those named in Connection) are not.
    chunked = client.post(
        f"{proxy.base}/Bundle",
        content=iter([b'{"resourceType": ', b'"Bundle"}']),
        headers={"Connection": "keep-alive, X-Hop", "X-Hop": "1", "Keep-Alive": "timeout=5"},
    )
    echoed = chunked.json()
    assert echoed["body"] == '{"resourceType": "Bundle"}'
    assert not {"x-hop", "keep-alive", "transfer-encoding"} & set(echoed["headers"])

    assert proxy.requests == [
        ("GET", "/fhir/R5/Patient?identifier=a|b", 200, True),
        ("PUT", "/fhir/R5/Patient/p1", 200, True),
        ("POST", "/fhir/R5/", 201, True),
        ("POST", "/fhir/R5/Bundle", 201, True),
    ]
    assert isinstance(proxy.requests[0], LoggedRequest)


def test_refuse_closes_the_port_keeps_it_reserved_and_clear_reopens_it(proxy: FaultProxy, client: httpx.Client) -> None:
    url = f"{proxy.base}/metadata"
    assert client.get(url).status_code == 200  # leaves an idle keep-alive connection in the pool
    proxy.set(refuse())
    with pytest.raises(httpx.ConnectError):
        client.get(url)
    for reuse in (False, True):
        with socket.socket() as other, pytest.raises(OSError) as exc:
            if reuse:
                other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.bind(("127.0.0.1", proxy.port))
        assert exc.value.errno == errno.EADDRINUSE
    proxy.clear()
    assert client.get(url).status_code == 200
    assert proxy.base.startswith(f"http://127.0.0.1:{proxy.port}/")
    assert [r.forwarded for r in proxy.requests] == [True, True]  # refused attempts never reach the proxy


def test_delay_makes_the_client_time_out_and_is_still_forwarded(proxy: FaultProxy, upstream: _Upstream) -> None:
    proxy.set(delay(0.6, count=1))
    before = _upstream_count(upstream)
    with httpx.Client(timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get(f"{proxy.base}/Patient/slow")
    log = proxy.wait_for_requests(1, timeout=3.0)
    assert log == [("GET", "/fhir/R5/Patient/slow", 200, True)]
    assert _upstream_count(upstream) == before + 1
    with httpx.Client(timeout=0.2) as impatient:  # the count is spent: no delay
        assert impatient.get(f"{proxy.base}/Patient/fast").status_code == 200


def test_status_429_with_retry_after_is_answered_without_forwarding(
    proxy: FaultProxy, client: httpx.Client, upstream: _Upstream
) -> None:
    before = _upstream_count(upstream)
    proxy.set(status(429, "slow down", {"Retry-After": "1"}))
    got = client.post(f"{proxy.base}/", content=PATIENT)
    assert got.status_code == 429
    assert got.headers["retry-after"] == "1"
    assert got.text == "slow down"
    assert _upstream_count(upstream) == before
    proxy.set(status(412))
    assert client.put(f"{proxy.base}/Patient/p1", content=PATIENT).status_code == 412
    proxy.clear()
    assert client.post(f"{proxy.base}/", content=PATIENT).status_code == 201
    assert proxy.requests == [
        ("POST", "/fhir/R5/", 429, False),
        ("PUT", "/fhir/R5/Patient/p1", 412, False),
        ("POST", "/fhir/R5/", 201, True),
    ]


def test_count_applies_n_times_then_forwards(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set(status(503, count=2))
    codes = [client.get(f"{proxy.base}/Patient/{i}").status_code for i in range(3)]
    assert codes == [503, 503, 200]
    assert proxy.faults == []
    assert [(r.status, r.forwarded) for r in proxy.requests] == [(503, False), (503, False), (200, True)]


def test_predicate_rejects_only_matching_bodies_with_an_operation_outcome(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    proxy.set(reject(operation_outcome_text="no observations", when=body_contains(b'"resourceType": "Observation"')))
    refused = client.post(f"{proxy.base}/Observation", content=OBSERVATION)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/fhir+json"
    assert refused.json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "no observations"}],
    }
    accepted = client.post(f"{proxy.base}/Patient", content=PATIENT)
    assert accepted.status_code == 201
    assert accepted.json()["body"] == PATIENT.decode()
    assert proxy.requests == [("POST", "/fhir/R5/Observation", 400, False), ("POST", "/fhir/R5/Patient", 201, True)]


def test_drop_connection_closes_without_an_answer(proxy: FaultProxy, client: httpx.Client) -> None:
    proxy.set(drop_connection(count=1), drop_connection(count=1, reset=True))
    for _ in range(2):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post(f"{proxy.base}/", content=PATIENT)
    assert client.post(f"{proxy.base}/", content=PATIENT).status_code == 201
    assert proxy.requests == [
        ("POST", "/fhir/R5/", None, False),
        ("POST", "/fhir/R5/", None, False),
        ("POST", "/fhir/R5/", 201, True),
    ]


def test_delay_combines_with_an_answer_and_faults_can_change_while_running(
    proxy: FaultProxy, client: httpx.Client
) -> None:
    proxy.set(delay(0.1, count=1), status(500, count=1))
    assert client.get(f"{proxy.base}/a").status_code == 500
    proxy.add(status(503, when=lambda method, path, body: method == "DELETE"))
    assert client.delete(f"{proxy.base}/Patient/p1").status_code == 503
    assert client.get(f"{proxy.base}/b").status_code == 200
    proxy.clear()
    assert client.delete(f"{proxy.base}/Patient/p1").status_code == 200
    assert [r.status for r in proxy.requests] == [500, 503, 200, 200]


def test_closing_releases_a_held_request_and_counts_must_be_positive(upstream: _Upstream) -> None:
    with pytest.raises(ValueError):
        status(500, count=0)
    proxy = FaultProxy(f"http://127.0.0.1:{upstream.server_address[1]}").start()
    proxy.set(delay(30.0))
    errors: list[Exception] = []

    def call() -> None:
        try:
            httpx.get(f"{proxy.base}/held", timeout=5.0)
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not proxy._conns:  # the request has reached the proxy
        threading.Event().wait(0.01)
    proxy.close()
    caller.join(timeout=3.0)
    assert not caller.is_alive() and len(errors) == 1
    assert proxy.requests == [("GET", "/held", None, False)]
