"""Logging set-up (called by the CLI only) and the catalogue of event names.

Every INFO line carries an ``event`` name from EVENTS in ``extra``; tests assert on them. Patient name,
ID and birth date are never logged above DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

EVENTS = {
    "file.rejected": "an input file cannot be used; the line says which and why",
    "file.skipped": "an input file is not an instance (e.g. a DICOMDIR) and is passed over",
    "study.converted": "a study's resources were built",
    "study.failed": "a study could not be built; the line says why",
    "output.written": "a resource or bundle file was written",
    "report.unreadable": "a report object's content cannot be read; the object is still referenced (WARNING)",
    "report.content": "what a report object could not map: file and content-item path (WARNING)",
    "delivery.done": "a study revision was delivered to a FHIR server sink",
    "delivery.retry": "a delivery attempt failed and is due again after a back-off (WARNING)",
    "delivery.dead": "a delivery was dead-lettered; `dicom-bridge deadletters` lists it (ERROR)",
    "delivery.lease_lost": "a node finished a delivery another node had taken over (WARNING)",
    "delivery.pass_failed": "a delivery pass failed (store unavailable); deliveries stay queued (ERROR once, then "
                            "DEBUG while the reason stays the same)",
    "delivery.recovered": "delivery passes work again after failed ones (how many)",
    "delivery.resumed": "deliveries being sent when the service stopped were queued again at start-up",
    "delivery.replayed": "dead letters were re-queued by `dicom-bridge replay`",
    "bundle.invalid": "an emitted report bundle failed the project's own validator (a bug)",
    "service.started": "dicom-bridge serve is running: data and output folders, work waiting in the store",
    "service.stopping": "a signal asked the service to stop",
    "service.stopped": "the service stopped gracefully; pending work stays in the store",
    "listener.started": "the DICOM listener is bound (AE title, address, port, TLS)",
    "listener.stopped": "the DICOM listener stopped",
    "association.accepted": "an association was accepted (calling AE, peer address)",
    "association.rejected": "an association was refused with A-ASSOCIATE-RJ; the line says why",
    "association.aborted": "an association still running at shutdown was aborted",
    "instance.stored": "a received instance is durable and recorded (DEBUG)",
    "instance.duplicate": "an instance was received again with identical bytes: nothing changed",
    "instance.refused": "a C-STORE got a failure status; the line says why",
    "instance.uid_mismatch": "the data set's SOP Instance UID differs from the one it was sent as",
    "file.quarantined": "a file was moved to the quarantine with a reason file",
    "file.taken": "an inbox file was taken (DEBUG)",
    "watch.missing_inbox": "a configured inbox folder does not exist",
    "watch.failed": "an inbox scan failed (store or spool); it is retried",
    "watch.paused": "the spool's disk is below its reserve: inbox files are left where they are (WARNING)",
    "watch.resumed": "the spool's disk is above its reserve again: inboxes are scanned",
    "http.started": "the status page, /metrics and /healthz are served (address, port)",
    "http.replay": "a dead letter was re-queued from the status page",
    "spool.cleaned": "partial files of an interrupted run were removed at start-up",
    "spool.recovered": "spool files that a crash left unrecorded were recorded at start-up",
    "study.resumed": "studies whose build was interrupted are open again",
    "study.building": "a study's quiet period is over; its revision is being built",
    "study.sealed": "a study revision was built and written",
    "scheduler.failed": "a scheduler pass failed (store unavailable); it is retried (ERROR once, then DEBUG while "
                        "the reason stays the same)",
    "scheduler.recovered": "scheduler passes work again after failed ones (how many)",
    "store.lease_released": "expired build leases were released",
    "workers.restarted": "a worker process died; new workers were started and its study will be retried",
}

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def setup_logging(verbosity: int = 0, json_lines: bool = False) -> None:
    """Log to stderr: WARNING by default, INFO with -v, DEBUG with -vv; JSON lines on request."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pydicom").setLevel(max(level, logging.ERROR))  # its warnings become findings
    # pynetdicom logs every DIMSE message at INFO; the bridge logs associations and instances itself.
    logging.getLogger("pynetdicom").setLevel(level if level <= logging.DEBUG else logging.WARNING)
    # uvicorn (the status page's server) logs its start and stop at INFO; the bridge logs http.started itself.
    logging.getLogger("uvicorn").setLevel(level if level <= logging.DEBUG else logging.WARNING)


_LEVELS = {"debug": 2, "info": 1, "warning": 0, "error": -1}


def apply_log_settings(verbosity: int, json_lines: bool, level: str, fmt: str) -> None:
    """`serve`'s logging: the settings' [log] level and format, unless the command line asked (-v, --log-json)."""
    setup_logging(verbosity if verbosity else _LEVELS[level], json_lines or fmt == "json")
    if level == "error" and not verbosity:
        logging.getLogger().setLevel(logging.ERROR)
