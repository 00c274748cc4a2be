"""Intake: the one path by which a received file becomes durable and recorded, for the listener and the inbox."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from bridge.errors import StoreError
from bridge.ingest.spool import Spool, Spooled
from bridge.metrics import Metrics
from bridge.store import Receipt, RecordOutcome, RecordResult, StateStore

log = logging.getLogger(__name__)


class Intake:
    """Spool, then record: a caller may acknowledge the instance once ``take`` returns."""

    def __init__(self, spool: Spool, store: StateStore, clock: Callable[[], float] = time.time,
                 metrics: Metrics | None = None) -> None:
        self.spool = spool
        self.store = store
        self.clock = clock
        self.metrics = metrics or Metrics()

    def take(
        self,
        tmp_path: Path,
        sop_class_uid: str,
        sop_instance_uid: str,
        source: str,
        calling_ae: str | None,
        known: tuple[int, str] | None = None,
    ) -> RecordResult:
        """Make ``tmp_path`` durable in the spool and record it; ``tmp_path`` is consumed.

        ``known`` is the file's (size, SHA-256) when the receiver computed them while writing it.

        Raises:
            StoreError: nothing was recorded and no file of this call stays behind.
        """
        spooled = self.spool.commit(tmp_path, known)
        return self._record(spooled, sop_class_uid, sop_instance_uid, source, calling_ae)

    def take_copy(
        self, path: Path, sop_class_uid: str, sop_instance_uid: str, source: str, calling_ae: str | None
    ) -> RecordResult:
        """Copy ``path`` into the spool and record it; ``path`` itself is not touched."""
        spooled = self.spool.copy_in(path)
        return self._record(spooled, sop_class_uid, sop_instance_uid, source, calling_ae)

    def take_in_place(
        self, path: Path, sop_class_uid: str, sop_instance_uid: str, source: str,
        known: tuple[int, str] | None = None,
    ) -> RecordResult:
        """Record ``path`` where it is (an inbox configured to leave files in place, or a spool file a crash left
        unrecorded); ``known`` is its (size, SHA-256) when the caller has them."""
        size, digest = known if known is not None else self.spool.digest_of(path)
        receipt = Receipt(sop_instance_uid, sop_class_uid, str(path), size, digest, source, None, self.clock())
        result = self.store.record_instance(receipt)
        self._after(result, receipt)
        return result

    def _record(
        self,
        spooled: Spooled,
        sop_class_uid: str,
        sop_instance_uid: str,
        source: str,
        calling_ae: str | None,
    ) -> RecordResult:
        receipt = Receipt(
            sop_instance_uid=sop_instance_uid,
            sop_class_uid=sop_class_uid,
            path=str(spooled.path),
            size=spooled.size,
            digest=spooled.digest,
            source=source,
            calling_ae=calling_ae,
            received_at=self.clock(),
        )
        try:
            result = self.store.record_instance(receipt)
        except StoreError:
            # Not recorded, so not acknowledged: remove the copy unless another instance's row refers to it.
            if self._unreferenced(spooled):
                self.spool.remove(spooled.path)
            raise
        self._after(result, receipt)
        return result

    def _unreferenced(self, spooled: Spooled) -> bool:
        """Whether ``spooled`` may be removed after a failed record: only when no row can refer to it."""
        try:
            return bool(self.store.unknown_paths([str(spooled.path)]))
        except StoreError:
            # The store cannot answer: keep the file; start-up reconciliation registers or keeps it.
            return False

    def _after(self, result: RecordResult, receipt: Receipt) -> None:
        route = _route(receipt.source)
        if result.outcome is RecordOutcome.DUPLICATE:
            self.metrics.instances_duplicate.labels(route).inc()
            log.info(
                "instance %s from %s is a duplicate of what is stored",
                receipt.sop_instance_uid,
                receipt.source,
                extra={"event": "instance.duplicate", "sop_instance_uid": receipt.sop_instance_uid},
            )
            return
        self.metrics.instances_received.labels(route).inc()
        self.metrics.bytes_received.labels(route).inc(receipt.size)
        if result.previous_path and result.previous_path != receipt.path and self.spool.owns(result.previous_path):
            self.spool.remove(result.previous_path)
        log.debug(
            "stored instance %s from %s (%s)",
            receipt.sop_instance_uid,
            receipt.source,
            result.outcome.value,
            extra={"event": "instance.stored", "sop_instance_uid": receipt.sop_instance_uid},
        )


def _route(source: str) -> str:
    """The metrics label of a receipt's source: dicom (C-STORE), inbox, or recovery (spool files after a crash)."""
    return "dicom" if source.startswith("AE ") else "inbox" if source.startswith("folder ") else "recovery"
