"""The reliability suite: `dicom-bridge serve` nodes under faults, then the invariants that must still hold.

Run it whole (what ``make reliability`` does)::

    .venv/bin/python -m tests.reliability.suite [--seconds N] [--seed S] [--scenario NAME ...] [--keep]

or in its short form through pytest (``tests/reliability/test_reliability.py``, part of ``make test``).

Every scenario runs real processes: two ``dicom-bridge serve`` nodes on a PostgreSQL database of their own with a
shared data folder, the FHIR R5 test server (tests/fhir_server.py) behind a fault-injecting proxy
(tests/fault_proxy.py) as a ``[[delivery.fhir_servers]]`` sink, and sender threads that C-STORE many small studies
(fresh UIDs, spread over both nodes, some split across the nodes, some with stragglers that make revision 2).
A sender records per instance whether the bridge acknowledged it (status 0x0000) and sends again, later, what was
not acknowledged, as a modality would.

Scenarios:

* ``kill9``: a chaos thread ``kill -9``s one node's whole process group (main process, workers, listener processes)
  at random moments and restarts it with the same config after a short random pause, again and again.
* ``fhir-faults``: the proxy makes the FHIR server refuse connections, answer slower than the sink's timeout, answer
  500, and 429 with Retry-After, period after period; a second sink with max_attempts = 2 dead-letters some
  deliveries, which ``dicom-bridge replay --all`` (the CLI) re-queues once the faults are gone.
* ``pg-restart``: PostgreSQL is restarted (``pg_ctlcluster``) while instances arrive and revisions are delivered.
* ``disk-full``: the shared data folder is a 32 MB tmpfs (or, without the right to mount one, the disk reserve
  ``min_free_space_mb`` is set just below the free space); a filler file takes the space until the nodes refuse,
  then it is deleted and everything must complete.

After each scenario, every node up and the work settled, the suite checks:

* lost = acknowledged instances that are not in the store with the bytes that were sent (SOP Instance UID, the
  spool file's SHA-256 equal to the recorded digest, the data set in it equal to the one sent): must be 0;
* every study is sealed with every instance sent, its last revision delivered to every sink, and on the FHIR server
  exactly one ImagingStudy for it whose numberOfInstances is the stored count;
* duplicates = a (study, revision, sink) with more than one delivery row, a revision sealed twice, or a second
  ImagingStudy for a study on the server: must be 0;
* no dead letter is left after ``dicom-bridge replay --all``;
* every C-STORE status was 0x0000 or 0xA700, no node exited by itself, no partial file stayed in <data_dir>/tmp
  (checked where no node was killed).

Each scenario prints its figures: instances sent/acknowledged/stored, C-STOREs retried, studies, revisions, the
deliveries, the HTTP transaction POSTs the proxy forwarded per revision (more than one means a revision was sent
again after a crash or a timeout, which is allowed: the PUTs are idempotent), kills, duplicates, lost, dead letters
before and after replay, and the wall time. The seed is printed; the same seed gives the same studies, send plan
and fault schedule (not the same interleaving: processes and threads race as they do in production).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dsutils import encode, split_dataset
from pynetdicom.sop_class import CTImageStorage
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bridge.ingest.scp import set_tcp_nodelay
from bridge.samples import write_ct_study
from tests import fault_proxy as fp
from tests.conftest import REPO
from tests.e2e.conftest import AE_TITLE, ServeConfig, ServeProcess, write_config
from tests.fhir_server import FhirServer, FhirServerUnavailable, start_fhir_server

SCENARIOS = ("kill9", "fhir-faults", "pg-restart", "disk-full")
DEFAULT_SEED = 20240611
DEFAULT_SECONDS = 60.0  # the sending window of each scenario in the full run
# The short form (pytest, CI): about 2 minutes for the four, up to 4 when a kill or the PostgreSQL restart catches a
# delivery whose outcome is then never recorded: it is sent again only once its lease ends (4 x SINK_TIMEOUT + 60 s).
SHORT_SECONDS = {"kill9": 15.0, "fhir-faults": 10.0, "pg-restart": 8.0, "disk-full": 8.0}
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SUCCESS, OUT_OF_RESOURCES = 0x0000, 0xA700
SINK_TIMEOUT = 2.0  # seconds: the FHIR sink's request timeout (a node's delivery lease is 4x that + 60 s)
START_TIMEOUT = 90.0  # seconds for a node to serve (2 cores, other tests running)
ACK_TIMEOUT = 240.0  # seconds for every instance to be acknowledged once the faults are over
SETTLE_TIMEOUT = 300.0  # seconds for everything to be sealed and delivered (a dead node's delivery lease: 68 s)
TMPFS_MB = 32

log = logging.getLogger("reliability")


class Skip(Exception):
    """A scenario cannot run here (the reason says why)."""


# ================================================================================================ figures


@dataclass
class Figures:
    """What one scenario did and found; ``failures`` lists every broken invariant (empty: the scenario passed)."""

    scenario: str
    seed: int
    seconds: float
    instances: int = 0  # distinct instances generated and sent
    stores: int = 0  # C-STORE requests made, resends included
    acknowledged: int = 0  # distinct instances answered 0x0000
    not_acknowledged: int = 0  # C-STOREs answered otherwise or never answered (sent again later)
    status_a700: int = 0  # of those: 0xA700 out of resources
    associations_failed: int = 0  # associations refused, rejected or aborted before a C-STORE (sent again later)
    stored: int = 0  # acknowledged instances found in the store with the bytes sent
    studies: int = 0
    revisions: int = 0  # revisions emitted (sum of the studies' last revision)
    deliveries: int = 0  # delivery rows delivered
    superseded: int = 0  # delivery rows superseded by a newer revision (never sent)
    http_posts: int = 0  # transaction POSTs that reached a proxy (faults included)
    http_sends: int = 0  # transaction POSTs forwarded to the FHIR server and accepted (2xx)
    resent_revisions: int = 0  # (study, revision, sink) accepted by the server more than once
    max_sends_per_revision: int = 0
    kills: int = 0
    restarts: int = 0
    node_exits: int = 0  # nodes that ended by themselves
    duplicates: int = 0
    lost: int = 0
    dead_before_replay: int = 0
    dead_after_replay: int = 0
    partial_files: int = -1  # files left in <data_dir>/tmp at the end (-1: not checked, a node was killed)
    wall: float = 0.0
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    ROWS = (
        ("instances sent", "instances"), ("C-STOREs (with resends)", "stores"),
        ("acknowledged", "acknowledged"), ("refused/aborted (retried)", "not_acknowledged"),
        ("  of which 0xA700", "status_a700"), ("associations failed (retried)", "associations_failed"),
        ("stored (acknowledged, same bytes)", "stored"), ("studies", "studies"), ("revisions emitted", "revisions"),
        ("deliveries delivered", "deliveries"), ("deliveries superseded", "superseded"),
        ("HTTP transaction POSTs", "http_posts"), ("HTTP sends accepted", "http_sends"),
        ("revisions sent >1 time", "resent_revisions"), ("max sends per revision", "max_sends_per_revision"),
        ("kills", "kills"), ("restarts", "restarts"), ("nodes that exited", "node_exits"),
        ("duplicates", "duplicates"), ("lost", "lost"), ("dead letters before replay", "dead_before_replay"),
        ("dead letters after replay", "dead_after_replay"), ("partial files in tmp/", "partial_files"),
        ("wall time (s)", "wall"),
    )

    @property
    def ok(self) -> bool:
        return not self.failures

    def value(self, attribute: str) -> str:
        value = getattr(self, attribute)
        if attribute == "wall":
            return f"{value:.1f}"
        if attribute == "partial_files" and value < 0:
            return "n/a"
        return str(value)

    def table(self) -> str:
        title = f"scenario {self.scenario} (seed {self.seed}, {self.seconds:g} s window)"
        if self.skipped:
            return f"{title}: SKIPPED: {self.skipped}"
        width = max(len(label) for label, _ in self.ROWS)
        lines = [title, "-" * len(title)]
        lines += [f"  {label:<{width}}  {self.value(attribute):>8}" for label, attribute in self.ROWS]
        lines += [f"  note: {note}" for note in self.notes]
        lines.append("  result: " + ("OK" if self.ok else "FAILED"))
        lines += [f"  FAILURE: {failure}" for failure in self.failures]
        return "\n".join(lines)


def total_table(results: Sequence[Figures]) -> str:
    """The figures of every scenario side by side, with their total."""
    ran = [r for r in results if not r.skipped]
    names = [r.scenario for r in ran] + ["total"]
    width = max(len(label) for label, _ in Figures.ROWS)
    columns = [max(10, len(name) + 1) for name in names]
    header = f"  {'':<{width}}" + "".join(f"{name:>{w}}" for name, w in zip(names, columns, strict=True))
    lines = [header]
    for label, attribute in Figures.ROWS:
        values = [r.value(attribute) for r in ran]
        numbers = [getattr(r, attribute) for r in ran if getattr(r, attribute) >= 0]
        if attribute == "max_sends_per_revision":
            total = str(max(numbers, default=0))
        elif attribute == "wall":
            total = f"{sum(numbers):.1f}"
        else:
            total = str(sum(numbers))
        cells = [*values, total]
        lines.append(f"  {label:<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, columns, strict=True)))
    verdicts = ["OK" if r.ok else "FAILED" for r in ran]
    verdicts.append("OK" if all(r.ok for r in ran) else "FAILED")
    lines.append(f"  {'result':<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(verdicts, columns, strict=True)))
    lines += [f"  {r.scenario}: SKIPPED: {r.skipped}" for r in results if r.skipped]
    return "\n".join(lines)


# ================================================================================================ PostgreSQL


def postgres_url() -> str:
    return os.environ.get("BRIDGE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_problem(url: str) -> str | None:
    """Why the server at ``url`` cannot be used, or None."""
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"PostgreSQL not available at {make_url(url).render_as_string(hide_password=True)}: " + (
            f"{type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def own_database(server_url: str, label: str) -> Iterator[str]:
    """A PostgreSQL database of its own for a scenario, dropped afterwards."""
    name = f"bridge_rel_{label.replace('-', '_')}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        for attempt in range(30):  # PostgreSQL may still be coming back from a restart
            try:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                break
            except SQLAlchemyError:
                if attempt == 29:
                    raise
                time.sleep(1)
        admin.dispose()


def pg_cluster() -> tuple[str, str] | str:
    """(version, name) of the local PostgreSQL cluster that pg_ctlcluster can restart, or why there is none."""
    host = make_url(postgres_url()).host or "localhost"
    if host not in ("127.0.0.1", "localhost", "::1"):
        return f"the test PostgreSQL server is not local ({host})"
    if os.geteuid() != 0:
        return "restarting PostgreSQL needs root (pg_ctlcluster), and this runs as another user"
    if shutil.which("pg_ctlcluster") is None:
        return "pg_ctlcluster is not installed"
    port = str(make_url(postgres_url()).port or 5432)
    clusters = sorted(Path("/etc/postgresql").glob("*/*/postgresql.conf"))
    for conf in clusters:
        if re.search(rf"^\s*port\s*=\s*{port}\b", conf.read_text(errors="replace"), re.MULTILINE):
            return conf.parent.parent.name, conf.parent.name
    if len(clusters) == 1:
        return clusters[0].parent.parent.name, clusters[0].parent.name
    return f"no PostgreSQL cluster under /etc/postgresql listens on port {port}"


def restart_postgres(cluster: tuple[str, str], down_for: float) -> tuple[float, float]:
    """Stop the cluster (fast shutdown: every connection is cut), leave it down ``down_for`` seconds, start it.

    Returns (stopped at, starting at) as time.time(): between the two nothing answers on the port."""
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster[0], cluster[1]]
    subprocess.run([*command, "stop", "-m", "fast"], check=True, capture_output=True, timeout=120)
    stopped = time.time()
    time.sleep(down_for)
    starting = time.time()
    subprocess.run([*command, "start"], check=True, capture_output=True, timeout=120)
    return stopped, starting


class Db:
    """Read-only queries on a scenario's store, retried while PostgreSQL is away."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})

    def rows(self, sql: str, **params: Any) -> list[Any]:
        for attempt in range(60):
            try:
                with self.engine.connect() as conn:
                    return list(conn.execute(text(sql), params))
            except SQLAlchemyError:
                if attempt == 59:
                    raise
                self.engine.dispose()
                time.sleep(1)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.engine.dispose()


# ================================================================================================ nodes


class NodeProcess(ServeProcess):
    """``dicom-bridge serve`` as ServeProcess runs it, but in a session of its own: ``kill -9`` of its process group
    ends the main process, its workers, fork server and listener processes at once, as a crash of the host would."""

    def __init__(self, config: ServeConfig, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        env = {k: v for k, v in env.items() if not k.startswith("BRIDGE_")}  # only the file configures it
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "-v", "serve", "--config", str(config.path)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                start_new_session=True,
            )
        self.port = 0
        self.workers = []

    def kill_group(self) -> None:
        """SIGKILL the whole process group (a no-op when it is gone)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(30)


class Node:
    """One bridge node: its config and its current process; restarts keep the config (and the data)."""

    def __init__(self, name: str, config: ServeConfig) -> None:
        self.name = name
        self.config = config
        self.process: NodeProcess | None = None
        self.incarnations = 0
        self.lock = threading.Lock()
        self.expected_down = False

    @property
    def port(self) -> int:
        """The listener's port, 0 while the node is down."""
        process = self.process
        return process.port if process is not None and process.process.poll() is None else 0

    def start(self) -> None:
        self.incarnations += 1
        log_path = self.config.path.parent / f"serve-{self.incarnations}.log"
        process = NodeProcess(self.config, log_path)
        try:
            process.wait_serving(START_TIMEOUT)
        except BaseException:
            process.kill_group()
            raise
        self.process = process
        self.expected_down = False

    def kill9(self) -> None:
        self.expected_down = True
        if self.process is not None:
            self.process.kill_group()

    def exited_by_itself(self) -> int | None:
        """The exit code when the node ended though nobody killed or stopped it, else None."""
        process = self.process
        if process is None or self.expected_down:
            return None
        return process.process.poll()

    def stop(self) -> str | None:
        """SIGTERM (graceful), then SIGKILL of the group if it takes too long; what went wrong, if anything."""
        self.expected_down = True
        process = self.process
        if process is None or process.process.poll() is not None:
            return None
        problem = None
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            code = process.process.wait(45)
            if code != 0:
                problem = f"{self.name} exited with {code} on SIGTERM"
        except subprocess.TimeoutExpired:
            problem = f"{self.name} still running 45 s after SIGTERM"
        process.kill_group()  # workers a graceful stop left behind, if any
        return problem

    def logs(self) -> list[Path]:
        """The log of every incarnation, oldest first."""
        return sorted(self.config.path.parent.glob("serve-*.log"), key=lambda p: int(p.stem.split("-")[1]))


# ================================================================================================ the FHIR side


class RecordingProxy(fp.FaultProxy):
    """A FaultProxy that also remembers, for each transaction POST it forwarded, the ImagingStudy it carried and the
    server's status: how often each study revision reached the server."""

    def __init__(self, upstream_base: str, sink: str) -> None:
        super().__init__(upstream_base)
        self.sink = sink
        self.forwarded: list[tuple[str, str, int]] = []  # (study UID, ImagingStudy digest, status)
        self._forward_lock = threading.Lock()

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]],
                 body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        answer = super()._forward(method, path, headers, body)
        if method == "POST":
            found = transaction_imaging_study(body)
            if found is not None:
                with self._forward_lock:
                    self.forwarded.append((*found, answer[0]))
        return answer

    def transaction_posts(self) -> int:
        return sum(1 for r in self.requests if r.method == "POST" and r.path.rstrip("/").endswith(self._base_path))


def imaging_study_digest(resource: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(resource, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def study_uid_of(imaging_study: dict[str, Any]) -> str:
    for identifier in imaging_study.get("identifier") or ():
        value = str(identifier.get("value", ""))
        if value.startswith("urn:oid:"):
            return value[len("urn:oid:"):]
    return "?"


def transaction_imaging_study(body: bytes) -> tuple[str, str] | None:
    """(study UID, digest of the ImagingStudy) of a transaction Bundle, or None when it carries none."""
    try:
        bundle = json.loads(body)
    except ValueError:
        return None
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "ImagingStudy":
            return study_uid_of(resource), imaging_study_digest(resource)
    return None


def revisions_by_imaging_study(outbox: Path) -> dict[tuple[str, str], int]:
    """(study UID, ImagingStudy digest) -> revision, from the delivery payloads the nodes wrote."""
    found: dict[tuple[str, str], int] = {}
    for path in outbox.glob("*/revision-*.json"):
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        revision = int(path.stem.split("-")[1])
        for resource in payload.get("resources") or ():
            if resource.get("resourceType") == "ImagingStudy":
                found[(payload.get("study_instance_uid", study_uid_of(resource)), imaging_study_digest(resource))] = (
                    revision)
    return found


# ================================================================================================ studies and senders


@dataclass(eq=False)
class Instance:
    path: Path
    study_uid: str
    sop_uid: str
    sent_digest: str  # SHA-256 of the data set bytes as they go over the wire
    acked_at: float | None = None
    acked_by: str | None = None
    attempts: int = 0


@dataclass(eq=False)
class Study:
    uid: str
    instances: list[Instance]


@dataclass(eq=False)
class Batch:
    """Instances to C-STORE over one association to one node, not before ``ready_at`` (monotonic)."""

    instances: list[Instance]
    node: int
    ready_at: float
    failures: int = 0


def data_set_digest(data_set: bytes) -> str:
    return hashlib.sha256(data_set).hexdigest()


def make_studies(folder: Path, label: str, count: int, rng: random.Random, sizes: tuple[int, int],
                 matrix: int = 8) -> list[Study]:
    """``count`` CT studies with fresh UIDs (from the seed), ``sizes`` instances each (in one or two series)."""
    studies = []
    for index in range(count):
        size = rng.randint(*sizes)
        series = 2 if size >= 6 and rng.random() < 0.5 else 1
        per_series = max(1, size // series)
        paths = write_ct_study(folder, n_series=series, per_series=per_series, seed=f"{label}-{index}",
                               rows=matrix, columns=matrix)
        instances = []
        for path in paths:
            ds = dcmread(path)
            sent = encode(ds, False, True)  # what pynetdicom sends for Explicit VR Little Endian
            assert sent is not None
            instances.append(Instance(path, str(ds.StudyInstanceUID), str(ds.SOPInstanceUID), data_set_digest(sent)))
        studies.append(Study(instances[0].study_uid, instances))
    return studies


def plan_batches(studies: Sequence[Study], rng: random.Random, window: float, start: float,
                 nodes: int = 2) -> tuple[list[Batch], Counter[str]]:
    """Spread the studies over ``window`` seconds from ``start``: each goes to one node, or is split across both
    nodes at the same time, or leaves one or two stragglers for a few seconds later (a new revision)."""
    batches: list[Batch] = []
    kinds: Counter[str] = Counter()
    span = max(1.0, window * 0.75)
    for study in studies:
        at = start + rng.uniform(0, span)
        instances = list(study.instances)
        kind = rng.choices(("single", "split", "straggler", "split-straggler"), (4, 3, 2, 1))[0]
        kinds[kind] += 1
        late: list[Instance] = []
        if "straggler" in kind and len(instances) > 2:
            late = [instances.pop(rng.randrange(len(instances))) for _ in range(rng.randint(1, 2))]
        if kind.startswith("split") and len(instances) > 1:
            first = rng.randrange(nodes)
            batches.append(Batch(instances[0::2], first, at))
            batches.append(Batch(instances[1::2], (first + 1) % nodes, at + rng.uniform(0, 0.5)))
        else:
            batches.append(Batch(instances, rng.randrange(nodes), at))
        if late:
            batches.append(Batch(late, rng.randrange(nodes), at + rng.uniform(2.5, 6.0)))
    return batches, kinds


class Sender:
    """Sender threads: C-STORE the batches when due, each over its own association, as modalities would.

    A batch that was not completely acknowledged (refused association, 0xA700, abort, no answer) is sent again a
    little later with what is left; after three failures in a row to one node it goes to the other node.
    """

    def __init__(self, nodes: Sequence[Node], threads: int, seed: str, pace: tuple[float, float] = (0.0, 0.0)) -> None:
        self.nodes = nodes
        self.rng = random.Random(f"{seed}-sender")
        self.pace = pace  # seconds between two C-STOREs of an association (a modality sending as it acquires)
        self.active: Counter[str] = Counter()  # associations established, per node
        self._cond = threading.Condition()
        self._queue: list[Batch] = []
        self._busy = 0
        self._paused = False
        self._stop = False
        self.instances: list[Instance] = []
        self.statuses: Counter[int] = Counter()
        self.status_log: list[tuple[float, int]] = []  # (time.time(), status) of every answered C-STORE
        self.stores = 0
        self.not_acknowledged = 0
        self.associations_failed = 0
        self.refusals: Counter[str] = Counter()  # per node: associations refused or C-STOREs not acknowledged
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._run, args=(f"MOD{i + 1:02d}",), name=f"sender-{i + 1}",
                                          daemon=True) for i in range(threads)]

    # -- control -------------------------------------------------------------------------------------------------

    def start(self) -> Sender:
        for thread in self._threads:
            thread.start()
        return self

    def submit(self, batches: Sequence[Batch]) -> None:
        with self._cond:
            for batch in batches:
                self._queue.append(batch)
                self.instances.extend(batch.instances)
            self._cond.notify_all()

    def pause(self, wait: float = 60.0) -> None:
        """No new association from now on; returns once the running ones ended."""
        with self._cond:
            self._paused = True
            self._cond.wait_for(lambda: self._busy == 0, timeout=wait)

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(60)

    def unacknowledged(self) -> list[Instance]:
        with self._cond:
            return [i for i in self.instances if i.acked_at is None]

    def wait_all_acknowledged(self, timeout: float, check: Callable[[], None] = lambda: None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check()
            with self._cond:
                if not self._queue and self._busy == 0:
                    return not self.unacknowledged()
                self._cond.wait(0.5)
        return False

    def idle(self) -> bool:
        """Nothing queued and no association running."""
        with self._cond:
            return not self._queue and self._busy == 0

    # -- sending -------------------------------------------------------------------------------------------------

    def _next(self) -> Batch | None:
        with self._cond:
            while not self._stop:
                now = time.monotonic()
                due = [b for b in self._queue if b.ready_at <= now] if not self._paused else []
                if due:
                    batch = min(due, key=lambda b: b.ready_at)
                    self._queue.remove(batch)
                    self._busy += 1
                    return batch
                waits = [b.ready_at - now for b in self._queue]
                self._cond.wait(min([0.5, *waits]) if waits and not self._paused else 0.5)
            return None

    def _done(self, batch: Batch, left: list[Instance], failed: bool) -> None:
        with self._cond:
            self._busy -= 1
            if left:
                failures = batch.failures + 1 if failed else 0
                node = batch.node
                if failures and failures % 3 == 0:
                    node = (node + 1) % len(self.nodes)  # like a modality with a second destination
                delay = min(3.0, 0.3 * 2 ** min(failures, 4)) * self.rng.uniform(0.5, 1.0)
                self._queue.append(Batch(left, node, time.monotonic() + delay, failures))
            self._cond.notify_all()

    def _run(self, calling_ae: str) -> None:
        while (batch := self._next()) is not None:
            left, failed = list(batch.instances), True
            try:
                left, failed = self._send(batch, calling_ae)
            except Exception as exc:  # never lose a batch to a bug in this harness: count it and retry
                self.errors.append(f"{calling_ae}: {type(exc).__name__}: {exc}")
                log.exception("sender %s", calling_ae)
            finally:
                self._done(batch, left, failed)

    def _send(self, batch: Batch, calling_ae: str) -> tuple[list[Instance], bool]:
        node = self.nodes[batch.node]
        left = [i for i in batch.instances if i.acked_at is None]
        port = node.port
        if not port:
            with self._cond:
                self.associations_failed += 1
                self.refusals[node.name] += 1
            return left, True
        ae = AE(ae_title=calling_ae)
        ae.acse_timeout = ae.network_timeout = 15
        ae.connection_timeout = 5
        ae.dimse_timeout = 10  # pynetdicom may miss a dropped connection between requests: do not wait long
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", port, ae_title=AE_TITLE, evt_handlers=[(evt.EVT_CONN_OPEN, set_tcp_nodelay)])
        if not assoc.is_established:
            with self._cond:
                self.associations_failed += 1
                self.refusals[node.name] += 1
            close_transport(assoc)
            return left, True
        retry: list[Instance] = []
        with self._cond:
            self.active[node.name] += 1
        try:
            while left and assoc.is_established:
                if self.pace[1] > 0:
                    time.sleep(self.rng.uniform(*self.pace))
                instance = left[0]
                ds = dcmread(instance.path)
                with self._cond:
                    self.stores += 1
                    instance.attempts += 1
                try:
                    response = assoc.send_c_store(ds)
                except RuntimeError:  # the association ended between the check and the request
                    with self._cond:
                        self.not_acknowledged += 1
                        self.refusals[node.name] += 1
                    break
                status = int(response.Status) if "Status" in response else None
                with self._cond:
                    if status is not None:
                        self.statuses[status] += 1
                        self.status_log.append((time.time(), status))
                    if status == SUCCESS:
                        instance.acked_at = time.time()
                        instance.acked_by = node.name
                    else:
                        self.not_acknowledged += 1
                        self.refusals[node.name] += 1
                if status is None:  # no answer: aborted or timed out
                    break
                left.pop(0)
                if status != SUCCESS:
                    retry.append(instance)
        finally:
            with self._cond:
                self.active[node.name] -= 1
            if assoc.is_established:
                assoc.release()
            close_transport(assoc)
        rest = retry + left
        return rest, bool(rest)


def close_transport(assoc: Association) -> None:
    """Close the socket of an association that ended by an abort or was never made (pynetdicom leaves it to the
    garbage collector when shutdown() fails, which is a ResourceWarning)."""
    deadline = time.monotonic() + 10
    while assoc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    transport = getattr(assoc.dul, "socket", None)
    if transport is not None and transport.socket is not None:
        with contextlib.suppress(OSError):
            transport.socket.close()


# ================================================================================================ a scenario's world


@dataclass(frozen=True)
class Sink:
    name: str
    max_attempts: int = 500
    backoff: float = 0.2
    backoff_cap: float = 1.0


class Run:
    """What one scenario runs: its database, the proxies in front of the FHIR server, two nodes, the senders, and
    the checks. Use as a context manager (everything is stopped and removed at the end)."""

    def __init__(self, name: str, root: Path, seed: int, seconds: float, fhir: FhirServer, short: bool) -> None:
        self.name = name
        self.root = root
        self.seed = seed
        self.seconds = seconds
        self.fhir = fhir
        self.short = short
        self.figures = Figures(name, seed, seconds)
        self.shared = root / "shared"
        self.nodes: list[Node] = []
        self.proxies: dict[str, RecordingProxy] = {}
        self.studies: list[Study] = []
        self.sender: Sender | None = None
        self.db: Db | None = None
        self.url = ""
        self.stack = contextlib.ExitStack()
        self._started = time.monotonic()
        self.killed_any = False

    def __enter__(self) -> Run:
        self.stack.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.sender is not None:
                self.sender.close()
            for node in self.nodes:
                problem = node.stop()
                if problem is not None:
                    self.fail(problem)
            if self.db is not None:
                self.db.close()
        finally:
            self.stack.__exit__(*exc)
            self.figures.wall = time.monotonic() - self._started

    # -- setting up ------------------------------------------------------------------------------------------------

    def setup(self, sinks: Sequence[Sink] = (Sink("fhir"),), node_service: Sequence[dict[str, Any]] = ({}, {}),
              data_dir: Path | None = None, pace: tuple[float, float] = (0.01, 0.06)) -> None:
        """A database of its own, a proxy per sink, two nodes on a shared data folder (started)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = self.stack.enter_context(own_database(postgres_url(), self.name))
        self.db = Db(self.url)
        self.fhir.reset()
        servers = []
        for sink in sinks:
            proxy = RecordingProxy(self.fhir.base, sink.name)
            self.stack.enter_context(proxy)
            self.proxies[sink.name] = proxy
            servers.append({"name": sink.name, "base_url": proxy.base, "timeout": SINK_TIMEOUT,
                            "max_attempts": sink.max_attempts, "backoff": sink.backoff,
                            "backoff_cap": sink.backoff_cap})
        data = data_dir or self.shared / "data"
        for index, extra in enumerate(node_service):
            name = f"node-{'ab'[index]}"
            service = {"data_dir": data, "output_dir": self.shared / "out", "lease": 5.0,
                       "workers": 2 if index == 0 else 1, **extra}
            config = write_config(
                self.root / name, quiet_period=1.0, store={"url": self.url}, service=service,
                grouping={"quiet_period": 1.0, "retry_after": 2.0},
                listener={"processes": 2 if index == 0 else 1},
                delivery={"fhir_servers": servers, "poll_interval": 0.1},
            )
            self.nodes.append(Node(name, ServeConfig(config.path, data, self.shared / "out")))
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_catching(node.start, errors), name=f"start-{node.name}")
                   for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        self.sender = Sender(self.nodes, threads=4, seed=f"{self.seed}-{self.name}", pace=pace)

    def make_studies(self, count: int, sizes: tuple[int, int], matrix: int = 8, label: str = "") -> list[Study]:
        label = f"s{self.seed % 100000}-{self.name}{label}"
        studies = make_studies(self.root / "src", label, count, random.Random(f"{self.seed}-{label}"), sizes, matrix)
        self.studies.extend(studies)
        return studies

    def send(self, studies: Sequence[Study], window: float, start_in: float = 0.0) -> Counter[str]:
        assert self.sender is not None
        batches, kinds = plan_batches(studies, random.Random(f"{self.seed}-{self.name}-plan-{len(self.studies)}"),
                                      window, time.monotonic() + start_in, len(self.nodes))
        self.sender.submit(batches)
        return kinds

    # -- watching ------------------------------------------------------------------------------------------------

    def check_nodes(self) -> None:
        """A node that ended by itself is a failure (a crash); it is restarted so that the run can finish."""
        for node in self.nodes:
            with node.lock:
                code = node.exited_by_itself()
                if code is None:
                    continue
                tail = "\n".join(node.logs()[-1].read_text(errors="replace").splitlines()[-15:])
                self.fail(f"{node.name} exited by itself with code {code}; last lines of its log:\n{tail}")
                self.figures.node_exits += 1
                node.start()
                self.figures.restarts += 1

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check_nodes()
            time.sleep(min(0.5, left))

    def fail(self, message: str) -> None:
        log.error("%s: %s", self.name, message)
        self.figures.failures.append(message)

    def note(self, message: str) -> None:
        log.info("%s: %s", self.name, message)
        self.figures.notes.append(message)

    # -- settling --------------------------------------------------------------------------------------------------

    def expected(self) -> dict[str, int]:
        return {study.uid: len(study.instances) for study in self.studies}

    def pending_work(self) -> str | None:
        """What still has to happen before the run is settled, or None."""
        assert self.db is not None
        received = self.db.rows("SELECT count(*) FROM instances WHERE state = 'received'")[0][0]
        if received:
            return f"{received} instances not placed yet"
        studies = {r.study_instance_uid: r for r in self.db.rows(
            "SELECT s.study_instance_uid, s.state, s.revision, (SELECT count(*) FROM instances i "
            "WHERE i.study_key = s.study_key AND i.state = 'parsed') AS n FROM studies s")}
        for uid, count in self.expected().items():
            row = studies.get(uid)
            if row is None or row.state != "sealed" or row.n != count:
                what = "unknown" if row is None else f"{row.state} with {row.n} of {count} instances"
                return f"study {uid} {what}"
        busy = self.db.rows("SELECT state, count(*) FROM deliveries WHERE state IN ('pending', 'sending') "
                            "GROUP BY state")
        if busy:
            return "deliveries " + ", ".join(f"{n} {state}" for state, n in busy)
        return None

    def wait_settled(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_nodes()
            last = self.pending_work()
            if last is None:
                return True
            time.sleep(0.5)
        self.fail(f"not settled {timeout:.0f} s after the faults ended: {last}")
        return False

    def acknowledge_everything(self) -> bool:
        """Every node up, every instance sent until acknowledged."""
        assert self.sender is not None
        self.sender.resume()
        if self.sender.wait_all_acknowledged(ACK_TIMEOUT, self.check_nodes):
            return True
        left = self.sender.unacknowledged()
        self.fail(f"{len(left)} instances still not acknowledged {ACK_TIMEOUT:.0f} s after the faults ended "
                  f"(e.g. {left[0].sop_uid if left else '-'})")
        return False

    def dead_letters(self) -> list[Any]:
        assert self.db is not None
        return self.db.rows("SELECT delivery_id, sink, study_instance_uid, revision, last_error FROM deliveries "
                            "WHERE state = 'dead' ORDER BY delivery_id")

    def replay(self) -> None:
        """``dicom-bridge replay --all`` through the CLI when there are dead letters, then settle again."""
        dead = self.dead_letters()
        self.figures.dead_before_replay = len(dead)
        if dead:
            env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
            done = subprocess.run([sys.executable, "-m", "bridge", "replay", "--all", "-c",
                                   str(self.nodes[0].config.path)], capture_output=True, text=True, timeout=120,
                                  cwd=REPO, env=env, check=False)
            if done.returncode != 0:
                self.fail(f"dicom-bridge replay --all exited with {done.returncode}: {done.stdout}{done.stderr}")
            self.wait_settled()
        left = self.dead_letters()
        self.figures.dead_after_replay = len(left)
        if left:
            self.fail(f"{len(left)} dead letters left after replay, e.g. {tuple(left[0])}")

    def finish(self) -> None:
        """Resend what was never acknowledged, settle, replay dead letters, then check every invariant."""
        if self.acknowledge_everything() and self.wait_settled():
            self.replay()
        self.check()

    # -- the invariants --------------------------------------------------------------------------------------------

    def check_instances(self, final: bool) -> list[str]:
        """The acknowledged instances missing from the store (or with other bytes); also sets stored/lost."""
        assert self.db is not None and self.sender is not None
        rows = {r.sop_instance_uid: r for r in self.db.rows(
            "SELECT sop_instance_uid, study_instance_uid, state, path, digest FROM instances")}
        problems = []
        stored = 0
        for instance in self.sender.instances:
            if instance.acked_at is None:
                continue
            row = rows.get(instance.sop_uid)
            problem, study = None, instance.study_uid
            if row is None:
                problem = "not in the store"
            else:
                path = Path(row.path)
                try:
                    content = path.read_bytes()
                    _, offset = split_dataset(path)
                except (OSError, ValueError) as exc:
                    content, offset = b"", 0
                    problem = f"spool file {path} unreadable: {exc}"
                if problem is None and hashlib.sha256(content).hexdigest() != row.digest:
                    problem = f"spool file {path} does not match its recorded digest"
                elif problem is None and data_set_digest(content[offset:]) != instance.sent_digest:
                    problem = f"spool file {path} holds another data set than the one sent"
                elif problem is None and final and (row.state, row.study_instance_uid) != ("parsed", study):
                    problem = f"state {row.state}, study {row.study_instance_uid}"
            if problem is None:
                stored += 1
            else:
                problems.append(f"acknowledged instance {instance.sop_uid} (by {instance.acked_by} at "
                                f"{instance.acked_at:.3f}): {problem}")
        self.figures.stored = stored
        self.figures.lost = len(problems)
        return problems

    def partial_files(self) -> list[Path]:
        tmp = self.nodes[0].config.data_dir / "tmp"
        return sorted(p for p in tmp.iterdir() if p.is_file()) if tmp.is_dir() else []

    def check(self) -> None:
        assert self.db is not None and self.sender is not None
        f = self.figures
        sender = self.sender
        f.instances = len(sender.instances)
        f.stores = sender.stores
        f.acknowledged = sum(1 for i in sender.instances if i.acked_at is not None)
        f.not_acknowledged = sender.not_acknowledged
        f.status_a700 = sender.statuses[OUT_OF_RESOURCES]
        f.associations_failed = sender.associations_failed
        for error in sender.errors[:5]:
            self.fail(f"sender error: {error}")
        odd = {f"0x{s:04X}": n for s, n in sender.statuses.items() if s not in (SUCCESS, OUT_OF_RESOURCES)}
        if odd:
            self.fail(f"C-STORE statuses other than 0x0000 and 0xA700: {odd}")

        lost = self.check_instances(final=True)
        for problem in lost[:10]:
            self.fail(f"LOST {problem}")

        # studies: sealed, complete, each revision sealed once
        expected = self.expected()
        studies = {r.study_instance_uid: r for r in self.db.rows(
            "SELECT s.study_instance_uid, s.state, s.revision, (SELECT count(*) FROM instances i "
            "WHERE i.study_key = s.study_key AND i.state = 'parsed') AS n FROM studies s")}
        f.studies = len(studies)
        f.revisions = sum(r.revision for r in studies.values())
        for uid in sorted(set(studies) - set(expected)):
            self.fail(f"study {uid} in the store was never sent")
        for uid, count in expected.items():
            row = studies.get(uid)
            if row is None or row.state != "sealed" or row.n != count:
                self.fail(f"study {uid}: expected sealed with {count} instances, store has "
                          f"{'nothing' if row is None else f'{row.state} with {row.n}'}")
        seals = self.sealed_lines()
        built_twice = {key: n for key, n in seals.items() if n > 1}
        for (uid, revision), n in sorted(built_twice.items())[:10]:
            self.fail(f"DUPLICATE study {uid} revision {revision} sealed {n} times (node logs)")
        duplicates = sum(n - 1 for n in built_twice.values())

        # deliveries: one row per (study, revision, sink); the last revision delivered, older ones delivered or
        # superseded
        rows = self.db.rows("SELECT delivery_id, sink, study_instance_uid, revision, state, attempts "
                            "FROM deliveries ORDER BY delivery_id")
        by_key: dict[tuple[str, int, str], list[Any]] = defaultdict(list)
        for row in rows:
            by_key[(row.study_instance_uid, row.revision, row.sink)].append(row)
        f.deliveries = sum(1 for r in rows if r.state == "delivered")
        f.superseded = sum(1 for r in rows if r.state == "superseded")
        for (uid, revision, sink), group in sorted(by_key.items()):
            if len(group) > 1:
                duplicates += len(group) - 1
                self.fail(f"DUPLICATE study {uid} revision {revision} queued {len(group)} times for {sink}: "
                          f"{[(r.delivery_id, r.state) for r in group]}")
        for uid, row in studies.items():
            for sink in self.proxies:
                last = by_key.get((uid, row.revision, sink))
                if not last or last[-1].state != "delivered":
                    self.fail(f"study {uid} revision {row.revision} not delivered to {sink}: "
                              f"{[(r.delivery_id, r.state) for r in last or []]}")
                for revision in range(1, row.revision):
                    older = by_key.get((uid, revision, sink))
                    if not older:
                        self.fail(f"study {uid} revision {revision} was never queued for {sink}")
                    elif older[-1].state not in ("delivered", "superseded"):
                        self.fail(f"study {uid} revision {revision} to {sink} ended {older[-1].state}")

        # the FHIR server: one ImagingStudy per study, with the stored count
        for uid, row in sorted(studies.items()):
            found = self.fhir.search("ImagingStudy", identifier=f"urn:dicom:uid|urn:oid:{uid}").get("entry", [])
            if len(found) != 1:
                if len(found) > 1:
                    duplicates += len(found) - 1
                self.fail(f"{'DUPLICATE ' if len(found) > 1 else ''}study {uid}: {len(found)} ImagingStudy "
                          "resources on the FHIR server")
                continue
            number = found[0]["resource"].get("numberOfInstances")
            if number != row.n:
                self.fail(f"study {uid}: ImagingStudy.numberOfInstances {number} on the server, {row.n} stored")
        f.duplicates = duplicates

        # what reached the server, per revision
        revisions = revisions_by_imaging_study(self.nodes[0].config.data_dir / "outbox")
        sends: Counter[tuple[str, Any, str]] = Counter()
        for sink, proxy in self.proxies.items():
            f.http_posts += proxy.transaction_posts()
            for study_uid, digest, code in list(proxy.forwarded):
                if 200 <= code < 300:
                    sends[(study_uid, revisions.get((study_uid, digest), "?"), sink)] += 1
        f.http_sends = sum(sends.values())
        f.resent_revisions = sum(1 for n in sends.values() if n > 1)
        f.max_sends_per_revision = max(sends.values(), default=0)
        unknown = sum(n for (_, revision, _), n in sends.items() if revision == "?")
        if unknown:
            self.note(f"{unknown} accepted transactions carried an ImagingStudy that no payload in the outbox has")

        if not self.killed_any:
            partial = self.partial_files()
            f.partial_files = len(partial)
            if partial:
                self.fail(f"{len(partial)} partial files left in {partial[0].parent}: {[p.name for p in partial[:5]]}")
        errors = self.log_errors()
        if errors:
            self.note(f"node logs: {sum(errors.values())} tracebacks/ERROR lines, e.g. "
                      + "; ".join(f"{n}x {line}" for line, n in errors.most_common(3)))

    def sealed_lines(self) -> Counter[tuple[str, int]]:
        pattern = re.compile(r"sealed study (\S+) revision (\d+) \(")
        seals: Counter[tuple[str, int]] = Counter()
        for node in self.nodes:
            for path in node.logs():
                for match in pattern.finditer(path.read_text(errors="replace")):
                    seals[(match[1], int(match[2]))] += 1
        return seals

    def log_errors(self) -> Counter[str]:
        """ERROR lines and tracebacks of the node logs, by their message with numbers and UIDs blanked."""
        found: Counter[str] = Counter()
        for node in self.nodes:
            for path in node.logs():
                for line in path.read_text(errors="replace").splitlines():
                    if " ERROR " in line or line.startswith("Traceback"):
                        message = line.split(" ERROR ", 1)[-1]
                        found[re.sub(r"[0-9][0-9.a-f:-]*", "#", message)[:140]] += 1
        return found


def _catching(target: Callable[[], None], errors: list[BaseException]) -> Callable[[], None]:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # handed to the caller, which re-raises it
            errors.append(exc)

    return run


# ================================================================================================ the scenarios


def sizes_for(short: bool) -> tuple[int, int]:
    return (4, 8) if short else (5, 15)


def study_count(seconds: float, short: bool) -> int:
    return max(10, min(60, round(seconds * (1.0 if short else 0.8))))


KILL_MOMENTS = ("any moment", "mid-association", "mid-build", "mid-delivery")


def kill_moment(run: Run, node: Node, wanted: str, timeout: float = 4.0) -> str:
    """Wait (at most ``timeout`` s) until ``node`` is doing what ``wanted`` names; returns what was seen."""
    assert run.db is not None and run.sender is not None
    process = node.process
    if wanted == "any moment" or process is None:
        return "any moment"
    owner = f"%:{process.pid}:%"
    queries = {
        "mid-build": "SELECT count(*) FROM studies WHERE state = 'building' AND lease_owner LIKE :owner",
        "mid-delivery": "SELECT count(*) FROM deliveries WHERE state = 'sending' AND lease_owner LIKE :owner",
    }
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted == "mid-association":
            if run.sender.active[node.name] > 0:
                return wanted
        elif run.db.rows(queries[wanted], owner=owner)[0][0]:
            return wanted
        time.sleep(0.01)
    return f"any moment (no {wanted} within {timeout:g} s)"


def scenario_kill9(run: Run) -> None:
    """kill -9 of one node's process group at random moments (some chosen mid-association, mid-build or
    mid-delivery), restarted with the same config after a random pause, again and again."""
    run.setup()
    studies = run.make_studies(study_count(run.seconds, run.short), sizes_for(run.short))
    kinds = run.send(studies, run.seconds)
    run.note("study plans: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
    assert run.sender is not None
    run.sender.start()
    chaos = random.Random(f"{run.seed}-kill9-chaos")
    moments: Counter[str] = Counter()
    end = time.monotonic() + run.seconds
    run.sleep(chaos.uniform(0.5, 2.0))
    while time.monotonic() < end:
        node = chaos.choice(run.nodes)
        # The short form does not aim at deliveries: a node killed mid-delivery holds it for its lease (4 x the
        # sink timeout + 60 s) before another node takes it over, more than the short form's whole budget.
        wanted = chaos.choice(KILL_MOMENTS[:-1] if run.short else KILL_MOMENTS)
        pause = chaos.uniform(0.2, 2.0)
        with node.lock:
            moments[kill_moment(run, node, wanted)] += 1
            node.kill9()
        run.figures.kills += 1
        run.killed_any = True
        time.sleep(pause)
        with node.lock:
            try:
                node.start()
            except AssertionError as exc:
                run.fail(f"{node.name} did not start again after kill -9 #{run.figures.kills}: {exc}")
                node.start()
        run.figures.restarts += 1
        run.sleep(chaos.uniform(0.5, 3.0))
    run.note("kills: " + ", ".join(f"{n} {moment}" for moment, n in sorted(moments.items())))
    run.finish()


def scenario_fhir_faults(run: Run) -> None:
    """The FHIR server refuses, is slow, answers 500 and 429 period after period; a fragile second sink dead-letters
    deliveries, replayed through the CLI once the faults are gone."""
    run.setup(sinks=(Sink("fhir"), Sink("fragile", max_attempts=2, backoff=0.2, backoff_cap=0.4)))
    studies = run.make_studies(study_count(run.seconds, run.short), sizes_for(run.short))
    run.send(studies, run.seconds)
    assert run.sender is not None
    run.sender.start()
    slow = SINK_TIMEOUT + 1.5
    # (what, faults, then): ``then`` holds for ``slow`` + 1 s after the period. A request held beyond the sink's
    # timeout still reaches the server when its delay ends, after the bridge gave up on it (a slow server processes
    # what its client abandoned); if a newer revision of the same study were accepted meanwhile, the older one would
    # land last and stay. No client can tell when an abandoned request will be processed (only versioned updates,
    # If-Match, could refuse it), so the slow period is followed by answers that forward nothing until every held
    # request has landed: what is checked is the bridge, not this ambiguity of timeouts.
    schedule: list[tuple[str, list[fp.Fault], list[fp.Fault]]] = [
        ("down (connections refused)", [fp.refuse()], []),
        (f"slow ({slow:g} s, beyond the sink timeout), then 503", [fp.delay(slow)],
         [fp.status(503, "fault proxy: 503")]),
        ("500", [fp.status(500, "fault proxy: 500")], []),
        ("429 with Retry-After: 1", [fp.status(429, "fault proxy: 429", {"Retry-After": "1"})], []),
        ("connection dropped", [fp.drop_connection()], []),
        ("slow (0.5 s), then 503", [fp.delay(0.5), fp.status(503, "fault proxy: 503")], []),
    ]
    order = random.Random(f"{run.seed}-fhir-faults-schedule")
    order.shuffle(schedule)
    period = max(1.5, run.seconds * 0.8 / len(schedule))
    run.sleep(run.seconds * 0.1)
    for what, faults, then in schedule:
        for proxy in run.proxies.values():
            proxy.set(*faults)
        run.note(f"{period:.1f} s: {what}")
        run.sleep(period * order.uniform(0.7, 1.3))
        if then:
            for proxy in run.proxies.values():
                proxy.set(*then)
            run.sleep(slow + 1.0)
        for proxy in run.proxies.values():
            proxy.clear()
        run.sleep(order.uniform(0.2, 1.0))
    if not run.dead_letters():
        # make sure there is something to replay: the fragile sink's server fails until a delivery dies
        run.proxies["fragile"].set(fp.status(503, "fault proxy: 503"))
        extra = run.make_studies(1, (3, 3), label="-x")
        run.send(extra, 0.5)
        deadline = time.monotonic() + 120
        while not run.dead_letters() and time.monotonic() < deadline:
            run.sleep(0.5)
        run.proxies["fragile"].clear()
        run.note("no delivery had died during the fault periods: one was made to (503 until dead)")
    if not run.dead_letters():
        run.fail("the fragile sink (max_attempts = 2) dead-lettered nothing")
    run.finish()
    if run.figures.dead_before_replay == 0:
        run.fail("nothing was dead-lettered, so replay was not exercised")


def scenario_pg_restart(run: Run) -> None:
    """PostgreSQL stopped and started again (down a few seconds) while instances arrive and revisions are
    delivered: C-STOREs meanwhile are answered 0xA700 or their association refused, never 0x0000."""
    cluster = pg_cluster()
    if isinstance(cluster, str):
        raise Skip(cluster)
    run.setup()
    studies = run.make_studies(study_count(run.seconds, run.short), sizes_for(run.short))
    run.send(studies, run.seconds)
    assert run.sender is not None
    run.sender.start()
    restarts = 1 if run.short else max(1, int(run.seconds // 30))
    chaos = random.Random(f"{run.seed}-pg-restart")
    outages: list[tuple[float, float]] = []
    slot = run.seconds * 0.8 / restarts
    started = time.monotonic()
    for index in range(restarts):
        run.sleep(max(0.0, started + slot * index + chaos.uniform(0.2, 0.5) * slot - time.monotonic()))
        down_for = chaos.uniform(2.0, 4.0) if run.short else chaos.uniform(3.0, 10.0)
        at = time.monotonic() - started
        stopped, starting = restart_postgres(cluster, down_for)
        outages.append((stopped, starting))
        run.note(f"PostgreSQL {cluster[0]}/{cluster[1]} stopped at +{at:.1f} s, down {starting - stopped:.1f} s")
    run.sleep(max(0.0, started + run.seconds - time.monotonic()))
    statuses = list(run.sender.status_log)
    during = Counter(status for at, status in statuses if any(begin <= at <= end for begin, end in outages))
    run.note("C-STORE answers while PostgreSQL was down: "
             + (", ".join(f"{n}x 0x{s:04X}" for s, n in sorted(during.items())) or "none"))
    surely_down = [(begin + 1.0, end - 0.2) for begin, end in outages]
    acked_while_down = sum(1 for at, status in statuses if status == SUCCESS
                           and any(begin <= at <= end for begin, end in surely_down))
    if acked_while_down:
        run.fail(f"{acked_while_down} C-STOREs answered 0x0000 while PostgreSQL was down")
    run.finish()


def scenario_disk_full(run: Run) -> None:
    """The shared data folder fills up: sends are refused (A-ASSOCIATE-RJ or 0xA700), nothing acknowledged is lost,
    nothing partial stays; once space is freed everything completes."""
    data = run.shared / "data"
    data.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.environ.get("BRIDGE_RELIABILITY_NO_MOUNT") == "1":
        run.note("BRIDGE_RELIABILITY_NO_MOUNT=1: no tmpfs; the disk reserve (min_free_space_mb) stands in")
    elif os.geteuid() == 0 and shutil.which("mount"):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(data)],
                              capture_output=True, text=True, check=False)
        mounted = done.returncode == 0
        if not mounted:
            run.note(f"cannot mount a tmpfs ({done.stderr.strip() or done.returncode}): using the disk reserve")
    else:
        run.note("not root: no tmpfs; the disk reserve (min_free_space_mb) stands in for a full disk")
    if mounted:
        run.stack.callback(unmount, data)
        # node-a has no reserve (the disk really fills: ENOSPC), node-b a reserve of 2 MB (refuses first)
        services: tuple[dict[str, Any], ...] = ({"min_free_space_mb": 0}, {"min_free_space_mb": 2})
        run.note(f"data folder on a {TMPFS_MB} MB tmpfs; node-a without reserve (ENOSPC), node-b reserve 2 MB")
    else:
        free_mb = shutil.disk_usage(data).free // 2**20
        reserve = int(free_mb - 64)
        services = ({"min_free_space_mb": reserve}, {"min_free_space_mb": reserve})
        run.note(f"disk reserve {reserve} MB, 64 MB below the free space; a filler crosses it")
    run.setup(node_service=services, data_dir=data)
    assert run.sender is not None
    run.sender.start()

    # 1. a normal start
    first = run.make_studies(4 if run.short else 10, (3, 5), label="-a")
    run.send(first, 2.0)
    if not run.sender.wait_all_acknowledged(ACK_TIMEOUT, run.check_nodes):
        run.fail("the first studies (disk not full yet) were not all acknowledged")

    # 2. fill the disk until both nodes refuse
    filler = data / "filler.bin"
    run.stack.callback(filler.unlink, missing_ok=True)
    free = shutil.disk_usage(data).free
    headroom = 3 * 2**20 if mounted else 64 * 2**20 - 3 * 2**20
    write_filler(filler, max(0, free - headroom) if mounted else headroom)
    run.note(f"filler of {filler.stat().st_size / 2**20:.1f} MB written, {shutil.disk_usage(data).free / 2**20:.1f} MB "
             "left")
    before = Counter(run.sender.refusals)
    run.send(run.make_studies(6 if run.short else 12, (4, 6), matrix=256, label="-b"), 4.0)  # 134 KB instances
    deadline = time.monotonic() + 120
    more, grown = 0, time.monotonic()
    while not all(run.sender.refusals[node.name] > before[node.name] for node in run.nodes):
        if time.monotonic() > deadline:
            run.fail(f"both nodes should refuse while the disk is full; refusals: {dict(run.sender.refusals - before)}")
            break
        if run.sender.idle():  # everything was taken: send more
            more += 1
            run.send(run.make_studies(1, (4, 6), matrix=256, label=f"-c{more}"), 0.5)
        if not mounted and time.monotonic() - grown > 3.0:  # other writers on a shared disk may free space
            grown = time.monotonic()
            with open(filler, "ab") as out:
                out.write(b"\0" * 16 * 2**20)
        run.sleep(0.5)
    run.sender.pause()
    run.sleep(2.0)  # running builds and writes end
    refused = run.sender.associations_failed + run.sender.not_acknowledged
    run.note(f"while full: {refused} refusals ({run.sender.statuses[OUT_OF_RESOURCES]}x 0xA700, "
             f"{run.sender.associations_failed} associations failed), "
             f"{len(run.sender.unacknowledged())} instances waiting")
    for problem in run.check_instances(final=False)[:10]:
        run.fail(f"LOST while the disk was full: {problem}")
    partial = run.partial_files()
    if partial:
        run.fail(f"{len(partial)} partial files in tmp/ while the disk was full: {[p.name for p in partial[:5]]}")
    run.check_nodes()

    # 3. free the space: everything must complete
    filler.unlink()
    run.note(f"filler deleted, {shutil.disk_usage(data).free / 2**20:.1f} MB free")
    run.finish()


def write_filler(path: Path, size: int) -> None:
    """A file of ``size`` bytes (written, not sparse: it must really take the space)."""
    block = b"\0" * 2**20
    with open(path, "wb") as out:
        left = size
        while left > 0:
            try:
                out.write(block[: min(left, len(block))])
            except OSError:  # full already: good enough
                break
            left -= min(left, len(block))
        with contextlib.suppress(OSError):
            out.flush()
            os.fsync(out.fileno())


def unmount(folder: Path) -> None:
    done = subprocess.run(["umount", str(folder)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, text=True, check=False)


SCENARIO_FUNCTIONS: dict[str, Callable[[Run], None]] = {
    "kill9": scenario_kill9,
    "fhir-faults": scenario_fhir_faults,
    "pg-restart": scenario_pg_restart,
    "disk-full": scenario_disk_full,
}


# ================================================================================================ running


def run_scenario(name: str, root: Path, fhir: FhirServer, seed: int = DEFAULT_SEED, seconds: float = DEFAULT_SECONDS,
                 short: bool = False) -> Figures:
    """Run one scenario under ``root`` (its logs stay there) and return its figures."""
    if name not in SCENARIO_FUNCTIONS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    log.info("scenario %s: seed %d, %g s window, folder %s", name, seed, seconds, root)
    with Run(name, root, seed, seconds, fhir, short) as run:
        try:
            SCENARIO_FUNCTIONS[name](run)
        except Skip as exc:
            run.figures.skipped = str(exc)
        except Exception as exc:
            log.exception("scenario %s", name)
            run.fail(f"the scenario itself failed: {type(exc).__name__}: {exc}")
    return run.figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help=f"sending window of each scenario (default {DEFAULT_SECONDS:g}; "
                        "with --short: " + ", ".join(f"{k} {v:g}" for k, v in SHORT_SECONDS.items()) + ")")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="run only these (repeatable)")
    parser.add_argument("--short", action="store_true", help="the short form (as pytest runs it)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) even when all passed")
    parser.add_argument("--work", type=Path, help="work folder (default: a new one under the temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # refused/aborted associations are expected
    logging.getLogger("httpx").setLevel(logging.WARNING)
    names = args.scenario or list(SCENARIOS)
    windows = {name: args.seconds or (SHORT_SECONDS[name] if args.short else DEFAULT_SECONDS) for name in names}
    print(f"reliability suite: seed {args.seed}, scenarios "
          + ", ".join(f"{name} ({seconds:g} s)" for name, seconds in windows.items()), flush=True)
    print(f"replay: python -m tests.reliability.suite --seed {args.seed}"
          + (f" --seconds {args.seconds:g}" if args.seconds else "") + (" --short" if args.short else "")
          + "".join(f" --scenario {n}" for n in names), flush=True)

    problem = postgres_problem(postgres_url())
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 1
    work = args.work or Path(tempfile.mkdtemp(prefix=f"bridge-reliability-{args.seed}-"))
    try:
        fhir = start_fhir_server()
    except FhirServerUnavailable as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 1
    results: list[Figures] = []
    started = time.monotonic()
    try:
        for name in names:
            figures = run_scenario(name, work / name, fhir, args.seed, windows[name], args.short)
            if figures.skipped and name == "pg-restart" and os.environ.get("BRIDGE_REQUIRE_POSTGRES") == "1":
                figures.failures.append(f"skipped ({figures.skipped}) but BRIDGE_REQUIRE_POSTGRES=1")
            results.append(figures)
            print("\n" + figures.table() + "\n", flush=True)
    finally:
        fhir.close()
    print(f"all scenarios (seed {args.seed}, {time.monotonic() - started:.0f} s):")
    print(total_table(results))
    failed = [r for r in results if not r.ok]
    if failed or args.keep:
        print(f"\nlogs and data: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
