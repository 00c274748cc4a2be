"""Placing received instances in their studies, in a worker process: read each one's UIDs, record them in bulk.

The listener's process only decides when a batch is due; reading files and writing the store happen here,
so that none of it takes the listener's CPU or interpreter lock. Each worker opens its own connection to
the store (a forked process must not use its parent's).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from bridge.ingest.quarantine import Quarantine
from bridge.ingest.spool import Spool
from bridge.model import InstanceHeader, InstanceIdentity
from bridge.service.work import identify, read_for_placement
from bridge.settings import GroupingSettings
from bridge.store import Identity, PendingInstance, StateStore, Timing, open_store

log = logging.getLogger(__name__)

_stores: dict[str, StateStore] = {}  # one per worker process and URL, opened on first use


@dataclass(frozen=True, slots=True)
class PlaceJob:
    store_url: str
    data_dir: str
    grouping: GroupingSettings
    limit: int
    headers: bool = False  # read each instance's whole header and hand it back for its study's build


@dataclass(frozen=True, slots=True)
class Placement:
    handled: int  # instances placed or rejected
    headers: tuple[tuple[str, InstanceHeader], ...] = ()  # (spool path, header) of the instances placed


def place_pending(job: PlaceJob) -> Placement:
    """Place up to ``job.limit`` received instances, oldest first.

    Unusable files are quarantined (spool files) and marked rejected with their reason.
    """
    store = _stores.get(job.store_url)
    if store is None:
        store = _stores[job.store_url] = open_store(job.store_url)
    pending = store.pending_instances(job.limit)
    data_dir = Path(job.data_dir)
    placed = []
    headers: list[tuple[str, InstanceHeader]] = []
    for instance in pending:
        header = None
        if job.headers:
            outcome, header = read_for_placement(instance.path)
        else:
            outcome = identify(instance.path)
        if isinstance(outcome, InstanceIdentity):
            placed.append(_placed(instance, outcome, job.grouping))
            if header is not None:
                headers.append((instance.path, header))
        else:
            reject(store, Spool(data_dir), Quarantine(data_dir / "quarantine"), instance.sop_instance_uid,
                   instance.digest, Path(instance.path), outcome, instance.source)
    store.mark_parsed_many(placed, time.time())
    return Placement(len(pending), tuple(headers))


def timing_for(grouping: GroupingSettings, calling_ae: str | None) -> Timing:
    """When a study that an instance from ``calling_ae`` joined seals."""
    quiet = grouping.quiet_period_by_ae.get(calling_ae, grouping.quiet_period) if calling_ae else None
    return Timing(quiet if quiet is not None else grouping.quiet_period, grouping.max_age)


def reject(
    store: StateStore,
    spool: Spool,
    quarantine: Quarantine,
    sop_instance_uid: str,
    digest: str,
    path: Path,
    reason: str,
    source: str,
) -> None:
    """Quarantine a spool file (an inbox file left in place stays) and record why the instance is unusable."""
    if spool.owns(path):
        quarantine.put(path, reason, source)
    else:
        extra = {"event": "file.rejected", "path": str(path)}
        log.warning("cannot use %s from %s: %s", path, source, reason, extra=extra)
    store.mark_rejected(sop_instance_uid, digest, reason, time.time())


def _placed(
    instance: PendingInstance, identity: InstanceIdentity, grouping: GroupingSettings
) -> tuple[str, str, Identity, Timing]:
    if identity.sop_instance_uid != instance.sop_instance_uid:
        log.warning(
            "instance sent as %s holds SOP Instance UID %s; kept under the UID it was sent as",
            instance.sop_instance_uid,
            identity.sop_instance_uid,
            extra={"event": "instance.uid_mismatch", "sop_instance_uid": instance.sop_instance_uid},
        )
    return (
        instance.sop_instance_uid,
        instance.digest,
        Identity(identity.study_instance_uid, identity.series_instance_uid),
        timing_for(grouping, instance.calling_ae),
    )
