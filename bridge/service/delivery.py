"""The delivery loop: sends queued study revisions to the FHIR server sinks, retries, dead-letters.

One thread per service. Each pass leases the due deliveries (at most one per study and sink, so revisions
go out in order), sends each one's payload with its sink, and records the outcome in the store: delivered;
due again after a back-off (network errors, timeouts, 408/429/5xx/412, Retry-After honoured); or
dead-lettered with the server's answer (other 4xx, or attempts/age exhausted). Nothing is ever dropped:
`dicom-bridge replay` re-queues dead letters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bridge.errors import StoreError
from bridge.metrics import Metrics
from bridge.service.outage import Outage
from bridge.settings import DeliverySettings, ForwardSettings, Settings
from bridge.sinks.outcome import Outcome, next_attempt
from bridge.sinks.payload import read_payload
from bridge.store import DeliveryClaim, StateStore

if TYPE_CHECKING:
    from bridge.sinks.dicom_forward import DicomForwardSink
    from bridge.sinks.fhir_rest import RestSink

log = logging.getLogger(__name__)

BATCH = 8


def delivery_sinks(settings: Settings) -> tuple[str, ...]:
    """The names of the sinks every sealed revision is queued for: the FHIR servers, and the PACS that receives
    the KOS manifests when forwarding is configured."""
    names = [server.name for server in settings.delivery.fhir_servers]
    forward = settings.manifest.forward
    if forward is not None and settings.manifest.kos:
        names.append(forward.name)
    return tuple(names)


def _sinks(settings: DeliverySettings, forward: ForwardSettings | None) -> dict[str, RestSink | DicomForwardSink]:
    """The configured sinks; each sink's module (with its HTTP or DICOM network library) is imported only when
    that kind of sink is configured."""
    built: dict[str, RestSink | DicomForwardSink] = {}
    if settings.fhir_servers:
        from bridge.sinks.fhir_rest import RestSink

        built.update((s.name, RestSink(s)) for s in settings.fhir_servers)
    if forward is not None:
        from bridge.sinks.dicom_forward import DicomForwardSink

        built[forward.name] = DicomForwardSink(forward)
    return built


class Deliverer:
    """Runs ``run()`` in a thread until ``stop`` is set."""

    def __init__(self, settings: DeliverySettings, store: StateStore, owner: str,
                 clock: Callable[[], float] = time.time, sinks: dict[str, RestSink | DicomForwardSink] | None = None,
                 forward: ForwardSettings | None = None, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.store = store
        self.owner = owner
        self.clock = clock
        self._servers: dict[str, Any] = {s.name: s for s in settings.fhir_servers}
        if forward is not None:
            self._servers[forward.name] = forward
        self.sinks = sinks if sinks is not None else _sinks(settings, forward)
        self.wake = threading.Event()
        self.delivered = 0

    @property
    def lease(self) -> float:
        """Seconds a node holds a delivery: longer than the requests of one attempt can take."""
        longest = max((s.timeout for s in self._servers.values()), default=30.0)
        return 4 * longest + 60.0

    def run(self, stop: threading.Event) -> None:
        outage = Outage(log, "delivery pass", "delivery.pass_failed", "delivery.recovered")
        while not stop.is_set():
            try:
                worked = self.pass_once()
                outage.succeeded()
            except StoreError as exc:  # a store outage: log, wait, go on (the deliveries stay queued)
                outage.failed(exc)
                worked = False
            except Exception:  # not the store: a fault of the bridge, with its traceback; the loop goes on
                log.exception("delivery pass failed", extra={"event": "delivery.pass_failed"})
                worked = False
            if not worked:
                self.wake.wait(self.settings.poll_interval)
                self.wake.clear()
        for sink in self.sinks.values():
            sink.close()

    def pass_once(self) -> bool:
        claims = self.store.claim_due_deliveries(self.clock(), self.owner, self.lease, BATCH, tuple(self.sinks))
        for claim in claims:
            self._deliver(claim)
        return bool(claims)

    def _deliver(self, claim: DeliveryClaim) -> None:
        sink = self.sinks[claim.sink]
        elapsed = 0.0
        try:
            payload = read_payload(claim.payload)
        except (OSError, ValueError) as exc:
            outcome = Outcome(False, False, f"payload {claim.payload} cannot be read: {exc}")
        else:
            started = time.monotonic()
            outcome = sink.send(payload)
            elapsed = time.monotonic() - started
        now = self.clock()
        if outcome.done:
            self.store.delivery_succeeded(claim.delivery_id, self.owner, now)
            self.delivered += 1
            self.metrics.deliveries.labels(claim.sink, "done").inc()
            log.info("delivered study %s revision %d to %s (%d requests, %.2f s)", claim.study_instance_uid,
                     claim.revision, claim.sink, outcome.requests, elapsed,
                     extra={"event": "delivery.done", "study_uid": claim.study_instance_uid, "sink": claim.sink})
            return
        attempts = claim.attempts + 1
        retry_at = (next_attempt(self._servers[claim.sink], attempts, claim.created_at, now, outcome.retry_after)
                    if outcome.retry else None)
        error = outcome.error or "unknown error"
        self.store.delivery_failed(claim.delivery_id, self.owner, error, retry_at)
        self.metrics.deliveries.labels(claim.sink, "dead" if retry_at is None else "retry").inc()
        if retry_at is None:
            log.error("dead-lettered delivery %d (study %s revision %d to %s) after %d attempts: %s",
                      claim.delivery_id, claim.study_instance_uid, claim.revision, claim.sink, attempts, error,
                      extra={"event": "delivery.dead", "study_uid": claim.study_instance_uid, "sink": claim.sink})
        else:
            log.warning("delivery of study %s revision %d to %s failed (attempt %d), retry in %.1f s: %s",
                        claim.study_instance_uid, claim.revision, claim.sink, attempts, retry_at - now, error,
                        extra={"event": "delivery.retry", "study_uid": claim.study_instance_uid, "sink": claim.sink})
