"""The service's Prometheus metrics and its disk reserve.

Counters are counted where things happen (listener, intake, scheduler, delivery), in the service's own process;
gauges of the work queue are read from the store when Prometheus scrapes, so they are the same on every node of a
shared store. Each Service has its own registry, so a test harness can run several in one process.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MIB = 1024 * 1024

disable_created_metrics()  # no *_created series: they double the output and no dashboard reads them

# Seconds from a study's last instance to its revision written: the quiet period plus the build.
SEAL_LATENCY_BUCKETS = (1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600, float("inf"))


class Metrics:
    """Every metric the service exports, in one registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.instances_received = Counter(
            "bridge_instances_received", "Instances made durable and recorded, by route (dicom, inbox)", ["route"],
            registry=registry)
        self.bytes_received = Counter(
            "bridge_received_bytes", "Bytes of the instances received, by route", ["route"], registry=registry)
        self.instances_duplicate = Counter(
            "bridge_instances_duplicate", "Instances received again with identical bytes (nothing changed)",
            ["route"], registry=registry)
        self.instances_refused = Counter(
            "bridge_instances_refused", "C-STOREs answered with a failure status, by status (hex)", ["status"],
            registry=registry)
        self.associations = Counter(
            "bridge_associations", "Associations by result: accepted, or rejected with the reason", ["result"],
            registry=registry)
        self.studies_sealed = Counter(
            "bridge_studies_sealed", "Study revisions built and written (first revisions and later ones)",
            registry=registry)
        self.revisions = Counter(
            "bridge_study_revisions", "Study revisions after the first: stragglers or replaced instances",
            registry=registry)
        self.builds_failed = Counter(
            "bridge_study_builds_failed",
            "Study builds that failed (retried after grouping.retry_after, unless no instance was usable)",
            registry=registry)
        self.headers_read_ahead = Counter(
            "bridge_headers_read_ahead", "Instance headers read before their study was due (when the instance was "
            "placed, or while its study waited out its quiet period); its build took them instead of reading the "
            "files again", registry=registry)
        self.deliveries = Counter(
            "bridge_deliveries", "Delivery attempts by sink and result: done, retry, dead", ["sink", "result"],
            registry=registry)
        self.seal_latency = Histogram(
            "bridge_seal_latency_seconds", "Seconds from a study's last received instance to its revision written",
            buckets=SEAL_LATENCY_BUCKETS, registry=registry)

        self._counters = {c._name: c for c in vars(self).values() if isinstance(c, Counter)}

    def counter_values(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every counter's value now, by (counter name, labels): what a listener process reports to the service."""
        values = {}
        for name, counter in self._counters.items():
            for metric in counter.collect():
                for sample in metric.samples:
                    if sample.name.endswith("_total"):
                        values[(name, tuple(sorted(sample.labels.items())))] = sample.value
        return values

    def add(self, name: str, labels: dict[str, str], amount: float) -> None:
        """Count ``amount`` on the counter ``name`` (what another process counted)."""
        counter = self._counters[name]
        (counter.labels(**labels) if labels else counter).inc(amount)

    def watch(self, collector: Collector) -> None:
        """Add a collector read at each scrape (the store's queue, the disk)."""
        self.registry.register(collector)


@dataclass(frozen=True, slots=True)
class DiskSpace:
    free: int  # bytes available to the service
    reserve: int  # bytes that must stay free

    @property
    def low(self) -> bool:
        return self.reserve > 0 and self.free < self.reserve

    def __str__(self) -> str:
        return f"{self.free / MIB:.0f} MiB free, reserve {self.reserve / MIB:.0f} MiB"


class DiskReserve:
    """The free space that must stay on the spool's disk: below it nothing new is accepted."""

    def __init__(self, folder: Path, reserve_mb: int, usage: Callable[[Path], int] | None = None) -> None:
        self.folder = folder
        self.reserve = reserve_mb * MIB
        self._usage = usage or (lambda path: shutil.disk_usage(path).free)

    def space(self) -> DiskSpace:
        """The free space now (an unreadable folder counts as no space)."""
        try:
            free = self._usage(self.folder)
        except OSError:
            free = 0
        return DiskSpace(free, self.reserve)

    def refusal(self) -> str | None:
        """Why nothing may be accepted now, or None."""
        if self.reserve <= 0:
            return None
        space = self.space()
        return f"spool disk below its reserve ({space}) at {self.folder}" if space.low else None


class DiskCollector(Collector):
    """bridge_disk_free_bytes and bridge_disk_below_reserve, read at each scrape."""

    def __init__(self, reserve: DiskReserve) -> None:
        self.reserve = reserve

    def collect(self) -> Iterator[GaugeMetricFamily]:
        space = self.reserve.space()
        yield GaugeMetricFamily("bridge_disk_free_bytes", "Bytes free on the spool's disk", value=space.free)
        yield GaugeMetricFamily("bridge_disk_reserve_bytes", "Bytes that must stay free (service.min_free_space_mb)",
                                value=space.reserve)
        yield GaugeMetricFamily("bridge_disk_below_reserve", "1 while new associations are refused for lack of space",
                                value=int(space.low))
