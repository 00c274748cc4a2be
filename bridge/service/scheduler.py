"""The scheduler: places received instances in their studies and seals studies whose quiet period is over.

All its state lives in the store (instance states, study timers, leases), so a restart resumes exactly
where the last run stopped. CPU work (parsing, building) runs in the worker pool.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from bridge.errors import StoreError
from bridge.ingest.quarantine import Quarantine
from bridge.ingest.spool import Spool
from bridge.metrics import Metrics
from bridge.model import InstanceHeader
from bridge.service.delivery import delivery_sinks
from bridge.service.outage import Outage
from bridge.service.placement import PlaceJob, Placement, place_pending, reject
from bridge.service.work import BuildJob, BuildResult, build, read_ahead
from bridge.settings import Settings
from bridge.store import StateStore, StudyClaim, StudyState

log = logging.getLogger(__name__)

PARSE_BATCH = 1024
PARSE_HOLD_MAX = 10.0  # seconds
READ_AHEAD_QUIET = 0.5  # seconds a study must have received nothing before its headers are read ahead
READ_AHEAD_BATCH = 250  # headers per read-ahead job: a build that becomes due waits at most for one batch
READ_AHEAD_MAX = 20_000  # headers kept for builds to come (a few KB each)


class Scheduler:
    """One pass at a time: parse what arrived, start due builds, finish completed builds."""

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        spool: Spool,
        quarantine: Quarantine,
        pool: Executor,
        owner: str,
        clock: Callable[[], float] = time.time,
        receiving: Callable[[], bool] = lambda: False,
        new_pool: Callable[[], Executor] | None = None,
        store_url: str = "",
        metrics: Metrics | None = None,
        on_sealed: Callable[[], None] = lambda: None,
        associations: Callable[[], int] = lambda: 0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.spool = spool
        self.quarantine = quarantine
        self.pool = pool
        self.owner = owner
        self.clock = clock
        self.receiving = receiving
        self.new_pool = new_pool
        self.store_url = store_url
        self.metrics = metrics or Metrics()
        self.on_sealed = on_sealed  # a revision was recorded (and queued for delivery): wake the deliverer
        self.associations = associations  # associations sending now
        self.cores = os.cpu_count() or 1
        self._placing: Future[Placement] | None = None
        self.slots = max(1, getattr(pool, "_max_workers", 1))
        self._builds: dict[Future[BuildResult], StudyClaim] = {}
        self._reading: Future[tuple[tuple[str, InstanceHeader | None], ...]] | None = None
        # spool path -> header read ahead (None: it did not read cleanly, the build reads it), until its study is built
        self._read: dict[str, InstanceHeader | None] = {}
        self._sinks = delivery_sinks(settings)
        self.wake = threading.Event()

    @property
    def _parse_hold(self) -> float:
        """How long received instances may wait while associations are active: half the quiet period, so that
        placing them never delays a seal, at most PARSE_HOLD_MAX."""
        return min(PARSE_HOLD_MAX, self.settings.grouping.quiet_period / 2)

    @property
    def building(self) -> int:
        """Builds and placements handed to workers and not yet recorded."""
        return len(self._builds) + (self._placing is not None)

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; a failing pass is logged and retried, never fatal."""
        interval = self.settings.service.poll_interval
        outage = Outage(log, "scheduler pass", "scheduler.failed", "scheduler.recovered")
        while not stop.is_set():
            try:
                busy = self.step()
                outage.succeeded()
            except StoreError as exc:
                outage.failed(exc)
                busy = False
                stop.wait(interval)
            if not busy:
                self.wake.wait(self._idle_wait(interval))
                self.wake.clear()

    def _idle_wait(self, interval: float) -> float:
        """How long to sleep when idle: until the next study is due, at most ``interval`` (new arrivals and
        finished work wake the scheduler earlier), so that a study is built when its quiet period ends."""
        try:
            due = self.store.next_due_at()
        except StoreError:
            return interval
        left = None if due is None else due - self.clock()
        # Due already but not claimed in this pass (instances still being placed, or every worker busy): the
        # usual interval, not a spin.
        return interval if left is None or left <= 0 else min(interval, max(0.005, left))

    def step(self) -> bool:
        """One pass; returns whether there was anything to do."""
        if getattr(self.pool, "_broken", False) and not self._builds:  # a worker died while nothing was running
            self._replace_pool()
        busy = self._finish_builds()
        busy = self._parse_pending() or busy
        busy = self._start_builds() or busy
        busy = self._read_ahead() or busy
        return busy

    def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for running builds and record them (graceful stop)."""
        deadline = time.monotonic() + timeout
        while self._builds and time.monotonic() < deadline:
            self._finish_builds(wait=min(0.5, max(0.0, deadline - time.monotonic())))
        if self._placing is not None:  # a batch being placed records itself; let it finish
            try:
                self._placing.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as exc:  # it stays RECEIVED in the store and is placed after the next start
                log.warning("placement of received instances interrupted at shutdown: %s", exc)

    # ------------------------------------------------------------------------------------- parsing

    def _parse_pending(self) -> bool:
        """Hand received instances to a worker to be placed in their studies, one batch at a time."""
        if self._placing is not None:
            if not self._placing.done():
                return False
            future, self._placing = self._placing, None
            try:
                placement: Placement = future.result()
            except BrokenProcessPool:
                self._replace_pool()
                return True  # the instances are still RECEIVED: the next pass places them
            room = READ_AHEAD_MAX - len(self._read)
            self._read.update(placement.headers[:max(0, room)])
            return placement.handled > 0  # more may be waiting: look again at once
        oldest = self.store.pending_instances(1)
        if not oldest:
            return False
        if self.receiving() and self.clock() - oldest[0].received_at < self._parse_hold:
            # While an association is sending, placing instances would compete with it for the store's write
            # lock and the CPU; arrivals are timed by their receipt, so waiting costs no seal time.
            return False
        job = PlaceJob(self.store_url, str(self.spool.root.parent), self.settings.grouping, PARSE_BATCH,
                       headers=self._read_when_placing())
        self._placing = self.pool.submit(place_pending, job)
        self._placing.add_done_callback(lambda _f: self.wake.set())
        return True

    def _read_when_placing(self) -> bool:
        """Whether placing reads each header whole, for the build (see _read_ahead): while there is room to keep
        it, and a core to spare. Fewer associations sending than the machine has cores leave one (a single
        association's listener and placing share two cores without slowing it); with as many or more, the
        listeners need every core and the header is read later (in the quiet period, or by the build)."""
        return len(self._read) < READ_AHEAD_MAX and self.associations() < self.cores

    def _reject(self, sop_instance_uid: str, digest: str, path: Path, reason: str, source: str) -> None:
        reject(self.store, self.spool, self.quarantine, sop_instance_uid, digest, path, reason, source)

    def _read_ahead(self) -> bool:
        """While the workers have nothing else to do and no association is sending, read the headers of studies
        that wait out their quiet period and were not read when their instances were placed (placed before a
        restart, or while READ_AHEAD_MAX headers were kept), so that their build does not read them again: the
        build is the part of the latency from the last instance to the report that comes after the quiet
        period."""
        if self._reading is not None:
            if not self._reading.done():
                return False
            future, self._reading = self._reading, None
            try:
                self._read.update(future.result())
            except BrokenProcessPool:  # the next pass starts new workers (step)
                pass
            return True  # more may be waiting: look again at once
        if self._builds or self._placing is not None or self.receiving():
            return False
        waiting = self.store.open_paths(self.clock() - READ_AHEAD_QUIET, READ_AHEAD_MAX)
        # Headers of studies no longer waiting (built while their batch was read, instances replaced) go.
        still = {path for path, _ in waiting}
        self._read = {p: h for p, h in self._read.items() if p in still}
        wanted = [path for path, quiet in waiting if quiet and path not in self._read]
        if not wanted:
            return False
        self._reading = self.pool.submit(read_ahead, tuple(wanted[:READ_AHEAD_BATCH]))
        self._reading.add_done_callback(lambda _f: self.wake.set())
        return True

    # ------------------------------------------------------------------------------------- building

    def _start_builds(self) -> bool:
        free = self.slots - len(self._builds)
        if free <= 0:
            return False
        claims = self.store.claim_due_studies(self.clock(), self.owner, self.settings.service.lease, free)
        for claim in claims:
            job = BuildJob(
                study_instance_uid=claim.study_instance_uid,
                revision=claim.revision,
                instances=tuple((i.sop_instance_uid, i.path) for i in claim.instances),
                fhir=self.settings.fhir,
                manifest=self.settings.manifest,
                calling_aes=tuple((i.sop_instance_uid, i.calling_ae) for i in claim.instances if i.calling_ae),
                output_dir=str(self.settings.service.output_dir),
                outbox_dir=str(self.settings.service.data_dir.resolve() / "outbox") if self._sinks else None,
                headers=tuple((i.path, h) for i in claim.instances if (h := self._read.pop(i.path, None)) is not None),
            )
            self.metrics.headers_read_ahead.inc(len(job.headers))
            future = self.pool.submit(build, job)
            future.add_done_callback(lambda _f: self.wake.set())
            self._builds[future] = claim
            log.info(
                "building study %s revision %d (%d instances)",
                claim.study_instance_uid,
                claim.revision,
                len(claim.instances),
                extra={"event": "study.building", "study_uid": claim.study_instance_uid},
            )
        return bool(claims)

    def _finish_builds(self, wait: float = 0.0) -> bool:
        if wait and self._builds:
            done_event = threading.Event()
            for future in self._builds:
                future.add_done_callback(lambda _f: done_event.set())
            done_event.wait(wait)
        done = [f for f in self._builds if f.done()]
        broken = False
        for future in done:
            claim = self._builds.pop(future)
            try:
                result = future.result()
            except BrokenProcessPool:  # the worker died (killed, out of memory): retried after retry_after
                error = "a worker process died while building this study"
                result = BuildResult(claim.study_instance_uid, claim.revision, None, (), 0, 0, (), error)
                broken = True
            self._record_build(claim, result)
        if broken:
            self._replace_pool()
        return bool(done)

    def _replace_pool(self) -> None:
        """A worker process died, which breaks the whole pool: start a new one so the service goes on."""
        log.error("a worker process died; starting new workers", extra={"event": "workers.restarted"})
        if self.new_pool is None:
            raise BrokenProcessPool("a worker process died and no new pool can be made")
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self.new_pool()

    def _record_build(self, claim: StudyClaim, result: BuildResult) -> None:
        uid = claim.study_instance_uid
        paths = {i.sop_instance_uid: i for i in claim.instances}
        for sop_instance_uid, reason in result.rejected:
            instance = paths[sop_instance_uid]
            self._reject(sop_instance_uid, instance.digest, Path(instance.path), reason, f"study {uid}")
        if result.error is not None or result.digest is None:
            # A failed build is retried after retry_after. A study with no usable instance left (all quarantined
            # now) is not: building it again cannot help, so it waits, FAILED, until a new instance re-opens it.
            error = result.error or "no instance of the study could be used"
            retry_at = None if result.error is None else self.clock() + self.settings.grouping.retry_after
            self.store.fail_study(uid, self.owner, error, retry_at)
            self.metrics.builds_failed.inc()
            log.error(
                "study %s revision %d failed: %s%s",
                uid,
                claim.revision,
                error,
                "" if retry_at is not None else "; it waits for new instances",
                extra={"event": "study.failed", "study_uid": uid},
            )
            return
        now = self.clock()
        record = self.store.complete_study(uid, self.owner, claim.revision, claim.generation, result.digest, now,
                                           sinks=self._sinks, payload=result.payload,
                                           warnings="\n".join(result.warnings) or None, summary=result.summary)
        self.on_sealed()
        self.metrics.studies_sealed.inc()
        if claim.revision > 1:
            self.metrics.revisions.inc()
        if record.state is StudyState.SEALED:  # not when more arrived during the build: it is open again
            self.metrics.seal_latency.observe(max(0.0, now - record.last_arrival))
        log.info(
            "sealed study %s revision %d (%d instances, %d reports, %d files)",
            uid,
            claim.revision,
            result.instance_count,
            result.report_count,
            len(result.files),
            extra={"event": "study.sealed", "study_uid": uid, "revision": claim.revision, "state": record.state},
        )
