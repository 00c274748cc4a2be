"""A polling loop's store outage is logged once when it starts and once when it ends."""

from __future__ import annotations

import logging

import pytest

from bridge.errors import StoreError
from bridge.service.outage import Outage


def test_an_outage_is_one_error_line_and_one_recovery_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("bridge.test.outage")
    outage = Outage(logger, "delivery pass", "delivery.pass_failed", "delivery.recovered")
    down = StoreError("state store: claim_due_deliveries: connection refused")
    with caplog.at_level(logging.DEBUG, logger="bridge.test.outage"):
        outage.succeeded()  # nothing to say while all is well
        for _ in range(5):
            outage.failed(down)
        outage.failed(StoreError("state store: claim_due_deliveries: the database system is starting up"))
        outage.failed(StoreError("state store: claim_due_deliveries: the database system is starting up"))
        outage.succeeded()
        outage.succeeded()
    lines = [(r.levelno, r.event, r.getMessage()) for r in caplog.records]  # type: ignore[attr-defined]
    assert [(level, event) for level, event, _ in lines] == (
        [(logging.ERROR, "delivery.pass_failed")] + [(logging.DEBUG, "delivery.pass_failed")] * 4
        + [(logging.ERROR, "delivery.pass_failed"), (logging.DEBUG, "delivery.pass_failed"),
           (logging.INFO, "delivery.recovered")])
    assert lines[0][2] == "delivery pass failed, retrying: StoreError: state store: claim_due_deliveries: " \
                          "connection refused"
    assert "starting up" in lines[5][2]
    assert lines[-1][2] == "delivery pass works again after 7 failed passes"
    assert outage.failures == 0
