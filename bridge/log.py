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
    "bundle.invalid": "an emitted report bundle failed the project's own validator (a bug)",
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
