"""The service: listener, folder watch and scheduler in one process, over one store and one worker pool."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from bridge.errors import ServiceError, StoreError
from bridge.ingest.intake import Intake
from bridge.ingest.quarantine import Quarantine
from bridge.ingest.spool import Spool
from bridge.ingest.watch import FolderWatch
from bridge.metrics import DiskCollector, DiskReserve, Metrics
from bridge.model import InstanceIdentity
from bridge.service.delivery import Deliverer, delivery_sinks
from bridge.service.health import Health, StoreCollector
from bridge.service.lifetime import end_with_parent
from bridge.service.scheduler import Scheduler
from bridge.service.work import identify, warm_up
from bridge.settings import Settings
from bridge.store import StateStore, default_sqlite_url, open_store, shared_store

if TYPE_CHECKING:
    from bridge.ingest.scp import Listener
    from bridge.service.listeners import ListenerProcesses
    from bridge.web.server import HttpServer

log = logging.getLogger(__name__)

STALE_PARTIAL = 3600.0  # seconds: a shared spool's partial file untouched this long belongs to a dead transfer
RECOVERY_MIN_AGE = 120.0  # seconds: a shared spool's unrecorded file younger than this may be a live node's
SPOOL_PASS_INTERVAL = 300.0  # seconds between the shared spool's recovery passes


class Service:
    """A running bridge; ``start()`` then ``stop()``, or use it as a context manager."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        service = settings.service
        self.data_dir = service.data_dir.resolve()
        self.output_dir = service.output_dir.resolve()
        self.spool = Spool(self.data_dir)
        self.quarantine = Quarantine(self.data_dir / "quarantine")
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.metrics = Metrics()
        self.reserve = DiskReserve(self.data_dir, service.min_free_space_mb)
        self.metrics.watch(DiskCollector(self.reserve))
        self.store: StateStore | None = None
        self.http: HttpServer | None = None  # the status page, /metrics and /healthz
        self.listeners: ListenerProcesses | None = None  # listener.processes > 1: the other listeners
        self.shared = False  # several nodes may share the store and the data directory
        self._recovered_until: float | None = None
        self.listener: Listener | None = None
        self.watch: FolderWatch | None = None
        self.scheduler: Scheduler | None = None
        self.deliverer: Deliverer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -------------------------------------------------------------------------------- life cycle

    def start(self) -> Service:
        """Open the store, recover the spool, start workers, listener, folder watch and scheduler.

        Raises:
            ServiceError, StoreError, ConfigError: the service cannot start; nothing keeps running.
        """
        try:
            self._start()
        except BaseException:
            self.stop(grace=0)
            raise
        return self

    def _start(self) -> None:
        settings = self.settings
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceError(f"service.output_dir {self.output_dir}: {exc.strerror or exc}") from exc
        store_url = settings.store.url or default_sqlite_url(self.data_dir)
        # Several nodes share the data directory when they share a store (see README "Several nodes"): another
        # node's transfers in progress and its spool files not yet recorded must not be touched.
        self.shared = shared_store(store_url)
        removed = self.spool.prepare(older_than=STALE_PARTIAL if self.shared else None)
        if removed:
            log.info("removed %d partial files of an interrupted run", removed, extra={"event": "spool.cleaned"})
        listener_settings = settings.listener
        count = settings.listener.process_count
        if settings.listener.enabled and count > 1:
            from bridge.service.listeners import ListenerProcesses

            # Forked first, while no thread runs (the worker pool's start-up starts one).
            self.listeners = ListenerProcesses(settings.listener, self.data_dir, store_url,
                                               settings.service.min_free_space_mb, count - 1)
            port = self.listeners.start()
            listener_settings = settings.listener.model_copy(update={"port": port})
        # Workers are forked before the store is opened: a child must not inherit its parent's connections.
        pool = _worker_pool(settings.service.workers, "fork", settings.service.worker_niceness)
        try:
            self.store = store = open_store(store_url)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        released = store.release_expired_leases(self.clock() if self.shared else float("inf"))
        if released:
            log.info("resumed %d studies whose build was interrupted", released, extra={"event": "study.resumed"})
        if not self.shared:  # a shared store's deliveries in flight may be another node's: their leases say when
            resent = store.release_delivery_leases()
            if resent:
                log.info("re-queued %d deliveries that were being sent when the service stopped", resent,
                         extra={"event": "delivery.resumed"})
        self.metrics.watch(StoreCollector(store))
        intake = Intake(self.spool, store, self.clock, self.metrics)
        self._recovered_until = self._recover_spool(store, intake, since=None)
        waiting = store.counts()  # what the store held at start, before the scheduler takes any of it
        if self.shared:
            self._spawn("housekeeping", lambda stop: self._housekeeping(stop, store, intake))
        self.scheduler = Scheduler(
            settings,
            store,
            self.spool,
            self.quarantine,
            pool,
            self.owner,
            self.clock,
            self._receiving,
            # A replacement is started while threads run, so from a fork server rather than by forking them.
            new_pool=lambda: _worker_pool(settings.service.workers, "forkserver", settings.service.worker_niceness),
            store_url=store_url,
            metrics=self.metrics,
            on_sealed=self._wake_delivery,
            associations=self._associations,
        )
        self._spawn("scheduler", self.scheduler.run)
        if delivery_sinks(settings):
            forward = settings.manifest.forward if settings.manifest.kos else None
            self.deliverer = Deliverer(settings.delivery, store, self.owner, self.clock, forward=forward,
                                       metrics=self.metrics)
            self._spawn("delivery", self.deliverer.run)
        if settings.watch.inboxes:
            self.watch = FolderWatch(settings.watch, intake, self.quarantine, self._identify, self.reserve)
            self._spawn("watch", self.watch.run)
        if settings.listener.enabled:
            # Imported here, after the worker processes were forked: they never speak DICOM on the network, and
            # pages they inherit from the service count in each one's resident memory.
            from bridge.ingest.scp import Listener

            fed = self.listeners is not None
            self.listener = Listener(listener_settings, intake, self.metrics, self.reserve, fed=fed,
                                     on_close=self.listeners.own_closed if self.listeners is not None else None)
            self.listener.start()
            if self.listeners is not None:
                self.listeners.go(self.listener, self.metrics)
        if settings.http.enabled:
            # Imported here, after the worker processes were forked: they never serve HTTP, and pages they
            # inherit from the service would count in each one's resident memory.
            from bridge.web.app import WebContext, create_app
            from bridge.web.server import HttpServer

            context = WebContext(store, self.metrics, Health(store, self.spool.tmp_dir, self.reserve), self.owner,
                                 settings.http.recent_studies, on_replay=self._wake_delivery)
            self.http = HttpServer(settings.http, create_app(context))
            self.http.start()
        log.info(
            "service started (data %s, output %s, %d instances to parse, %d studies open)",
            self.data_dir,
            self.output_dir,
            waiting.unparsed,
            waiting.open_studies,
            extra={"event": "service.started"},
        )

    def stop(self, grace: float = 10.0) -> None:
        """Stop gracefully: no new associations, running ones get ``grace`` s, running builds are recorded.

        Pending work stays in the store for the next start.
        """
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.listeners is not None:  # they stop together with the own listener, each with its grace
            self.listeners.close_port()
        if self.listener is not None:
            self.listener.stop(grace)
            self.listener = None
        if self.listeners is not None:
            self.listeners.stop(grace)
            self.listeners = None
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.wake.set()
        if self.deliverer is not None:
            self.deliverer.wake.set()
        for thread in self._threads:
            thread.join(timeout=max(grace, 1.0) + 30)
        self._threads.clear()
        if self.scheduler is not None:
            try:
                self.scheduler.drain(timeout=grace)
            except StoreError as exc:
                log.error("cannot record running builds at shutdown: %s", exc)
        if self.scheduler is not None:
            self.scheduler.pool.shutdown(wait=True, cancel_futures=True)
        if self.store is not None:
            self.store.close()
            self.store = None
            log.info("service stopped", extra={"event": "service.stopped"})

    def run_until_signalled(self) -> None:
        """Block until SIGTERM or SIGINT, then stop gracefully."""
        stop = threading.Event()

        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name, extra={"event": "service.stopping"})
            stop.set()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.wait(1.0):
                if not all(t.is_alive() for t in self._threads) or (self.http is not None and not self.http.alive):
                    raise ServiceError("a service thread ended unexpectedly")
                if self.listeners is not None and not self.listeners.alive:
                    raise ServiceError("a listener process ended unexpectedly")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -------------------------------------------------------------------------------- state

    def _identify(self, path: Path) -> InstanceIdentity | str:
        """The folder watch's identity read, in a worker process.

        Raises:
            StoreError: no worker can take it right now (the scheduler is replacing a dead one); the watch retries.
        """
        assert self.scheduler is not None
        try:
            return self.scheduler.pool.submit(identify, str(path)).result()
        except BrokenProcessPool as exc:
            raise StoreError("worker processes unavailable; the file is taken at the next scan") from exc

    def _wake_delivery(self) -> None:
        if self.deliverer is not None:
            self.deliverer.wake.set()

    def _receiving(self) -> bool:
        if self.listeners is not None:
            return self.listeners.busy
        return self.listener is not None and self.listener.busy

    def _associations(self) -> int:
        if self.listeners is not None:
            return self.listeners.connections
        return 0 if self.listener is None else self.listener.associations

    @property
    def port(self) -> int:
        if self.listeners is not None:
            return self.listeners.port
        if self.listener is None:
            raise ServiceError("the listener is not running")
        return self.listener.port

    @property
    def http_url(self) -> str:
        """The status page's address (/metrics and /healthz beside it)."""
        if self.http is None:
            raise ServiceError("the HTTP server is not running")
        return self.http.url

    def is_idle(self) -> bool:
        """True when everything received has been parsed, every study sealed or failed, and no delivery is
        due or being sent (retries waiting for their back-off do not count)."""
        if self.store is None or self.scheduler is None:
            return True
        counts = self.store.counts()
        now = self.clock()
        failed_waiting = sum(  # failed, and due later or only when a new instance arrives (due_at None)
            1 for s in self.store.studies() if s.state.value == "failed" and (s.due_at is None or s.due_at > now)
        ) if counts.open_studies else 0
        return (
            counts.unparsed == 0
            and counts.building_studies == 0
            and counts.open_studies == failed_waiting
            and self.scheduler.building == 0
            and (self.deliverer is None or self.store.delivery_backlog(now) == 0)
        )

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until is_idle(); returns False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_idle():
                return True
            time.sleep(0.05)
        return self.is_idle()

    # -------------------------------------------------------------------------------- internals

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=f"bridge-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _housekeeping(self, stop: threading.Event, store: StateStore, intake: Intake) -> None:
        """On a shared store, what start-up does for a single node, done while running, for the nodes that died:
        their expired build leases are released, their spool files never recorded are recorded, their partial
        files removed. Deliveries need nothing: an expired delivery lease is claimable as it is."""
        interval = min(60.0, max(1.0, self.settings.service.lease / 10))
        last_spool_pass = time.monotonic()
        while not stop.wait(interval):
            try:
                released = store.release_expired_leases(self.clock())
                if released:
                    log.info("resumed %d studies whose node stopped building them", released,
                             extra={"event": "study.resumed"})
                if time.monotonic() - last_spool_pass >= SPOOL_PASS_INTERVAL:
                    last_spool_pass = time.monotonic()
                    self._recovered_until = self._recover_spool(store, intake, since=self._recovered_until)
                    self.spool.remove_partial(older_than=STALE_PARTIAL)
            except (StoreError, OSError) as exc:
                log.error("housekeeping pass failed, retrying: %s", exc, extra={"event": "scheduler.failed"})

    def _recover_spool(self, store: StateStore, intake: Intake, since: float | None) -> float:
        """Record spool files that a crash left unrecorded (durable but never acknowledged); returns the
        modification time up to which the spool was checked.

        On a shared spool only files older than RECOVERY_MIN_AGE count (a live node records its own within
        milliseconds), and only those newer than ``since`` (older ones were checked by the previous pass)."""
        upto = self.clock() - RECOVERY_MIN_AGE if self.shared else float("inf")
        paths = [str(p) for p in self.spool.files() if _modified_between(p, since, upto)]
        unknown = sorted(store.unknown_paths(paths)) if paths else []
        for path in unknown:
            try:
                known = self.spool.digest_of(Path(path))
            except FileNotFoundError:  # replaced or rejected meanwhile
                continue
            except OSError as exc:
                self.quarantine.put(Path(path), f"cannot be read: {exc.strerror or exc}", "spool recovery")
                continue
            if not self.spool.matches_its_name(Path(path), known[1]):
                self.quarantine.put(Path(path), INCOMPLETE, "spool recovery")
                continue
            identity = identify(path)
            if not isinstance(identity, InstanceIdentity):
                self.quarantine.put(Path(path), identity, "spool recovery")
                continue
            intake.take_in_place(Path(path), identity.sop_class_uid, identity.sop_instance_uid, "spool recovery",
                                 known)
        if unknown:
            log.info(
                "recorded %d spool files left unrecorded by a crash", len(unknown), extra={"event": "spool.recovered"}
            )
        return upto if self.shared else self.clock()


def _start_worker(parent_pid: int | None, niceness: int) -> None:
    """A worker ends with the service and yields the cores to the listener when both want them: what a sender
    waits for (the acknowledgement) goes first, the parsing and building it does not wait for follows."""
    end_with_parent(parent_pid)
    if niceness:
        try:
            os.nice(niceness)
        except OSError as exc:  # not permitted here: the worker runs at the service's priority
            log.warning("worker %d keeps the service's priority: %s", os.getpid(), exc)


INCOMPLETE = ("incomplete: the service stopped while this file was being made durable, before it was "
              "acknowledged (its content does not match its name); the sender still has it to send again")


def _modified_between(path: Path, since: float | None, upto: float) -> bool:
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:  # replaced or rejected meanwhile
        return False
    return (since is None or modified >= since) and modified < upto


def _worker_pool(workers: int, start_method: str, niceness: int) -> ProcessPoolExecutor:
    """Worker processes, warmed up, ``niceness`` below the service's priority. At start-up they are forked, all at
    once by the first submit, before the service starts any thread (forking a threaded process can copy a held
    lock; a fork server would re-import a harness's __main__); a replacement pool comes from a fork server."""
    count = workers or max(1, (os.cpu_count() or 1) - 1)
    pool = ProcessPoolExecutor(
        max_workers=count,
        mp_context=multiprocessing.get_context(start_method),
        initializer=_start_worker,
        # A fork server's children have the fork server as parent; it ends when the service does.
        initargs=(os.getpid() if start_method == "fork" else None, niceness),
    )
    for future in [pool.submit(warm_up) for _ in range(count)]:
        future.result()
    return pool
