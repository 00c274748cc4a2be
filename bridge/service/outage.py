"""Logging a store outage once when it starts and once when it ends, not on every failed pass of a loop."""

from __future__ import annotations

import logging


class Outage:
    """What a polling loop (scheduler, delivery) logs while its passes fail.

    The first failure is an ERROR line with the reason; the following ones, while the reason stays the same, are
    DEBUG (a loop polls several times a second and a PostgreSQL restart takes seconds); a different reason is an
    ERROR line again. The first pass that works after failures logs one INFO line with how many failed.
    """

    def __init__(self, logger: logging.Logger, what: str, event: str, recovered_event: str) -> None:
        self._log = logger
        self._what = what
        self._event = event
        self._recovered_event = recovered_event
        self.failures = 0
        self._reason: str | None = None

    def failed(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        level = logging.DEBUG if self.failures and reason == self._reason else logging.ERROR
        self._log.log(level, "%s failed, retrying: %s", self._what, reason, extra={"event": self._event})
        self.failures += 1
        self._reason = reason

    def succeeded(self) -> None:
        if self.failures:
            self._log.info("%s works again after %d failed passes", self._what, self.failures,
                           extra={"event": self._recovered_event})
        self.failures = 0
        self._reason = None


__all__ = ["Outage"]
