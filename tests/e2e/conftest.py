"""What the end-to-end tests of ``dicom-bridge serve`` share: a server subprocess, its state, DCMTK, a test CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from tests.conftest import REPO

T = TypeVar("T")

AE_TITLE = "DICOM_BRIDGE"
START_TIMEOUT = 30.0  # seconds for `serve` to print that it is serving
STOP_TIMEOUT = 20.0  # seconds for a graceful stop
SEAL_TIMEOUT = 60.0  # seconds for a study to be sealed and written

_SERVING = re.compile(r"dicom-bridge serving \((?P<ae>[^@]+)@(?P<host>[^:]+):(?P<port>\d+)\)")
_STATUS_PAGE = re.compile(r"dicom-bridge serving \(.*; status page (?P<url>https?://\S+/);")


def wait_for(condition: Callable[[], T], what: str, timeout: float, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns a truthy value (returned); fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        pause.wait(interval)


# ------------------------------------------------------------------------------------------------ configuration


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. an item of [delivery] fhir_servers
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_table(name: str, table: dict[str, Any], lines: list[str]) -> None:
    lines.append(f"[{name}]")
    subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
    lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items() if key not in subtables)
    lines.append("")
    for key, sub in subtables.items():
        _toml_table(f"{name}.{key}", sub, lines)


@dataclass(frozen=True)
class ServeConfig:
    """A settings file for ``dicom-bridge serve`` in a test's temporary folder."""

    path: Path
    data_dir: Path
    output_dir: Path

    @property
    def state_db(self) -> Path:
        return self.data_dir / "state.db"

    def study_folder(self, study_uid: str) -> Path:
        return self.output_dir / study_uid


def write_config(root: Path, quiet_period: float = 1.0, **sections: dict[str, Any]) -> ServeConfig:
    """A config under ``root``: data and output there, a free port, 2 workers; ``sections`` merge into it."""
    data_dir, output_dir = root / "data", root / "out"
    settings: dict[str, dict[str, Any]] = {
        "service": {"data_dir": data_dir, "output_dir": output_dir, "workers": 2, "poll_interval": 0.1},
        "listener": {"ae_title": AE_TITLE, "bind_address": "127.0.0.1", "port": 0},
        "grouping": {"quiet_period": quiet_period},
        "http": {"port": 0},
    }
    for section, values in sections.items():
        settings.setdefault(section, {}).update(values)
    lines: list[str] = []
    for name, table in settings.items():
        _toml_table(name, table, lines)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "bridge.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return ServeConfig(path, data_dir, output_dir)


# ------------------------------------------------------------------------------------------------ the server


class ServeProcess:
    """``python -m bridge -v serve --config FILE`` with its output in a log file."""

    def __init__(self, config: ServeConfig, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        env = {k: v for k, v in env.items() if not k.startswith("BRIDGE_")}  # only the file configures it
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "-v", "serve", "--config", str(config.path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent, env=env,
            )
        self.port = 0
        self.workers: list[psutil.Process] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_serving(self, timeout: float = START_TIMEOUT) -> ServeProcess:
        """Wait for the "serving" line; remember the port and the worker processes."""

        def serving() -> re.Match[str] | None:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode} at start:\n{self.log()}")
            return _SERVING.search(self.log())

        match = wait_for(serving, f"serve to start (log {self.log_path})", timeout)
        assert match["ae"] == AE_TITLE and match["host"] == "127.0.0.1", match.group(0)
        self.port = int(match["port"])
        self.workers = psutil.Process(self.pid).children(recursive=True)
        return self

    def status_page_url(self) -> str:
        """The status page's base URL (``http://127.0.0.1:<port>/``) from the "serving" line; after wait_serving()."""
        match = _STATUS_PAGE.search(self.log())
        assert match is not None, f"no status page in the serving line (is [http] enabled?):\n{self.log()}"
        return match["url"]

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig``; return the exit code once the process ended (fails after ``timeout`` s)."""
        os.kill(self.pid, sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve still running {timeout:.0f} s after {sig.name}:\n{self.log()}") from None

    def leftover_workers(self, timeout: float = 10.0) -> list[psutil.Process]:
        """The worker processes still alive ``timeout`` s after the server ended (zombies do not count)."""

        def alive() -> list[psutil.Process]:
            result = []
            for worker in self.workers:
                try:
                    if worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE:
                        result.append(worker)
                except psutil.NoSuchProcess:
                    pass
            return result

        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while (left := alive()) and time.monotonic() < deadline:
            pause.wait(0.05)
        return left

    def kill_everything(self) -> None:
        """Teardown: SIGKILL the server and each of its worker processes that is still alive, by pid."""
        if self.process.poll() is None:
            try:
                self.workers = self.workers or psutil.Process(self.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        for worker in self.workers:
            try:
                if worker.is_running():
                    worker.kill()
            except psutil.NoSuchProcess:
                pass


@pytest.fixture
def serve() -> Iterator[Callable[[ServeConfig], ServeProcess]]:
    """Start ``dicom-bridge serve`` (waits until it serves); every process is ended at teardown."""
    started: list[ServeProcess] = []

    def start(config: ServeConfig) -> ServeProcess:
        server = ServeProcess(config, config.path.parent / f"serve-{len(started) + 1}.log")
        started.append(server)
        return server.wait_serving()

    yield start
    for server in started:
        server.kill_everything()


# ------------------------------------------------------------------------------------------------ the state store


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the state store, opened read-only (the server may be writing)."""
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def study_row(db: Path, study_uid: str) -> tuple[str, int] | None:
    """(state, revision) of the study, or None when the store does not know it (yet)."""
    if not db.exists():
        return None
    rows = query(db, "SELECT state, revision FROM studies WHERE study_instance_uid = ?", (study_uid,))
    assert len(rows) <= 1, rows
    return (rows[0][0], rows[0][1]) if rows else None


def imaging_study(config: ServeConfig, study_uid: str) -> dict[str, Any] | None:
    path = config.study_folder(study_uid) / "ImagingStudy.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def instance_uids(study: dict[str, Any]) -> list[str]:
    return [instance["uid"] for series in study.get("series", []) for instance in series.get("instance", [])]


def wait_sealed(config: ServeConfig, study_uid: str, revision: int | None, instances: int) -> dict[str, Any]:
    """Wait until the study is sealed (at ``revision`` unless None) and its ImagingStudy.json says ``instances``.

    Returns the ImagingStudy; fails at once when the study passes ``revision`` (it was built more often).
    """

    def sealed() -> dict[str, Any] | None:
        row = study_row(config.state_db, study_uid)
        if row is not None and revision is not None:
            assert row[1] <= revision, f"study {study_uid} reached revision {row[1]}, expected {revision}"
        if row is None or row[0] != "sealed" or (revision is not None and row[1] != revision):
            return None
        study = imaging_study(config, study_uid)
        return study if study is not None and study.get("numberOfInstances") == instances else None

    return wait_for(sealed, f"study {study_uid} sealed at revision {revision} with {instances} instances",
                    SEAL_TIMEOUT)


# ------------------------------------------------------------------------------------------------ DCMTK


def _dcmtk_tool(name: str) -> str | None:
    """The first ``name`` on PATH that is DCMTK's (pynetdicom installs Python apps of the same names)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which(name, path=folder) if folder else None
        if candidate is None:
            continue
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30, check=False)
        if "$dcmtk:" in version.stdout:
            return candidate
    return None


class Dcmtk:
    """DCMTK's command-line tools, run with TCP_NODELAY=1 (without it they manage ~20 instances/s)."""

    def __init__(self, tools: dict[str, str]) -> None:
        self.tools = tools

    def run(self, tool: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TCP_NODELAY": "1"}
        return subprocess.run(
            [self.tools[tool], *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO, check=False
        )

    def supports_tls(self) -> bool:
        return "+tls" in self.run("echoscu", "--help").stdout


@pytest.fixture(scope="session")
def dcmtk() -> Dcmtk:
    tools = {name: _dcmtk_tool(name) for name in ("storescu", "echoscu", "storescp")}
    missing = sorted(name for name, path in tools.items() if path is None)
    if missing:
        reason = (f"DCMTK is not installed: no DCMTK {' or '.join(missing)} on PATH (Debian package dcmtk; "
                  "pynetdicom's apps of the same names do not count)")
        if os.environ.get("BRIDGE_REQUIRE_DCMTK") == "1":
            pytest.fail(f"{reason}, and BRIDGE_REQUIRE_DCMTK=1 requires it")
        pytest.skip(reason)
    return Dcmtk({name: path for name, path in tools.items() if path is not None})


# ------------------------------------------------------------------------------------------------ a test CA


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1 (SAN IP) and a client certificate, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dicom-bridge tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write(stem: str, cert: x509.Certificate, private: rsa.RSAPrivateKey) -> tuple[Path, Path]:
        cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        return cert_path, key_path

    ca_key = key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("dicom-bridge test CA")).issuer_name(name("dicom-bridge test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(common_name: str, usage: x509.ObjectIdentifier, san: x509.GeneralName | None) -> tuple[Path, Path]:
        private = key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name)).issuer_name(ca_cert.subject)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([san]), critical=False)
        return write(common_name, builder.sign(ca_key, hashes.SHA256()), private)

    ca_path, _ = write("ca", ca_cert, ca_key)
    server_cert, server_key = issue(
        "server", ExtendedKeyUsageOID.SERVER_AUTH, x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    )
    client_cert, client_key = issue("client", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    return TlsFiles(ca_path, server_cert, server_key, client_cert, client_key)
