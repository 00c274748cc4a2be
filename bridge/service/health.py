"""What /healthz answers and what /metrics reads from the store at each scrape."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bridge.errors import StoreError
from bridge.metrics import DiskReserve
from bridge.store import DeliveryState, StateStore, StudyState


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "fail",
            "checks": {name: {"ok": c.ok, "detail": c.detail, **c.values} for name, c in self.checks.items()},
        }


class Health:
    """The three things that must hold for the service to accept work: store, spool, disk."""

    def __init__(self, store: StateStore, spool_tmp: Path, reserve: DiskReserve) -> None:
        self.store = store
        self.spool_tmp = spool_tmp
        self.reserve = reserve

    def check(self) -> HealthReport:
        return HealthReport({"store": self._store(), "spool": self._spool(), "disk": self._disk()})

    def _store(self) -> Check:
        started = time.monotonic()
        try:
            self.store.counts()
        except StoreError as exc:
            return Check(False, f"state store unreachable: {exc}")
        return Check(True, "state store answers", {"seconds": round(time.monotonic() - started, 4)})

    def _spool(self) -> Check:
        """A file can be created, written, synced and removed where received data sets land."""
        try:
            fd, name = tempfile.mkstemp(prefix="healthz-", suffix=".part", dir=self.spool_tmp)
            try:
                os.write(fd, b"healthz")
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(name)
        except OSError as exc:
            return Check(False, f"spool {self.spool_tmp} not writable: {exc.strerror or exc}")
        return Check(True, f"spool {self.spool_tmp} writable")

    def _disk(self) -> Check:
        space = self.reserve.space()
        values = {"free_bytes": space.free, "reserve_bytes": space.reserve}
        if space.low:
            return Check(False, f"below the reserve: {space}; new associations are refused", values)
        return Check(True, str(space), values)


class StoreCollector(Collector):
    """Gauges of the work queue, read from the store at each scrape (shared by every node of a PostgreSQL store).

    When the store cannot be read, only bridge_store_up 0 is exported.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = self.store.counts()
            by_state = self.store.study_state_counts()
            deliveries = self.store.delivery_counts()
        except StoreError:
            yield GaugeMetricFamily("bridge_store_up", "1 when the state store answers", value=0)
            return
        yield GaugeMetricFamily("bridge_store_up", "1 when the state store answers", value=1)
        yield GaugeMetricFamily("bridge_instances_waiting", "Received instances not yet placed in their study",
                                value=counts.unparsed)
        studies = GaugeMetricFamily("bridge_studies", "Studies by state", labels=["state"])
        for state in StudyState:
            studies.add_metric([state.value], by_state.get(state.value, 0))
        yield studies
        queued = GaugeMetricFamily("bridge_delivery_queue", "Deliveries waiting or being sent, by sink",
                                   labels=["sink"])
        dead = GaugeMetricFamily("bridge_dead_letters", "Dead-lettered deliveries, by sink", labels=["sink"])
        for sink, states in sorted(deliveries.items()):
            queued.add_metric([sink], states.get(DeliveryState.PENDING.value, 0)
                              + states.get(DeliveryState.SENDING.value, 0))
            dead.add_metric([sink], states.get(DeliveryState.DEAD.value, 0))
        yield queued
        yield dead
