"""kill -9 between the seal and the delivery: after a restart the revision is delivered, exactly once."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from pydicom import dcmread

from bridge.service.scu import send_files
from bridge.store import DeliveryState, open_store
from tests import fault_proxy as fp
from tests.conftest import SAMPLE_DICOM
from tests.e2e.conftest import AE_TITLE, query, wait_for, wait_sealed, write_config
from tests.e2e.test_serve import Serve

FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))
STUDY_UID = str(dcmread(FILES[0], stop_before_pixels=True).StudyInstanceUID)


def test_a_delivery_queued_before_a_kill_9_is_made_once_after_the_restart(
    tmp_path: Path, serve: Serve, fhir_server: Any
) -> None:
    fhir_server.reset()
    with fp.FaultProxy(fhir_server.base) as proxy:
        proxy.set(fp.refuse())  # the server is out of reach: the sealed revision waits in the outbox
        delivery = {"fhir_servers": [{"name": "node", "base_url": proxy.base, "timeout": 2.0, "backoff": 0.2,
                                      "backoff_cap": 0.5}], "poll_interval": 0.05}
        config = write_config(tmp_path / "bridge", quiet_period=1.0, delivery=delivery)
        first = serve(config)
        assert [sent.status for sent in send_files(FILES, first.port, AE_TITLE)] == [0] * len(FILES)
        wait_sealed(config, STUDY_UID, 1, len(FILES))

        def failed_once() -> bool:
            rows = query(config.state_db, "SELECT state, attempts FROM deliveries")
            return rows == [("pending", rows[0][1])] and rows[0][1] >= 1 if rows else False

        wait_for(failed_once, "a refused delivery attempt", 30)
        os.kill(first.pid, signal.SIGKILL)
        assert first.process.wait(10) == -signal.SIGKILL
        first.kill_everything()

        proxy.clear()
        proxy.clear_requests()
        second = serve(config)
        wait_for(lambda: query(config.state_db, "SELECT state FROM deliveries") == [("delivered",)],
                 "the delivery after the restart", 60)
        second.stop()
    transactions = [r for r in proxy.requests if r.method == "POST" and r.forwarded]
    assert len(transactions) == 1, proxy.requests  # sent once: no second transaction after it succeeded
    with open_store(f"sqlite:///{config.state_db}") as store:
        [record] = store.deliveries_of(STUDY_UID)
    assert (record.revision, record.state) == (1, DeliveryState.DELIVERED)
    identifier = f"urn:dicom:uid|urn:oid:{STUDY_UID}"
    assert len(fhir_server.search("ImagingStudy", identifier=identifier).get("entry", [])) == 1


def test_a_delivery_in_flight_at_a_kill_9_is_sent_again_at_the_restart_not_after_its_lease(
    tmp_path: Path, serve: Serve, fhir_server: Any
) -> None:
    """The node was sending when it died: at start-up it has the store to itself, so the delivery is pending again
    at once; the lease (4 × timeout + 60 s = 100 s here) is not waited out."""
    fhir_server.reset()
    with fp.FaultProxy(fhir_server.base) as proxy:
        proxy.set(fp.delay(60.0))  # the transaction hangs in the proxy: the delivery stays SENDING
        delivery = {"fhir_servers": [{"name": "node", "base_url": proxy.base, "timeout": 10.0}],
                    "poll_interval": 0.05}
        config = write_config(tmp_path / "bridge", quiet_period=1.0, delivery=delivery)
        first = serve(config)
        assert [sent.status for sent in send_files(FILES, first.port, AE_TITLE)] == [0] * len(FILES)
        wait_for(lambda: query(config.state_db, "SELECT state FROM deliveries") == [("sending",)],
                 "the delivery in flight", 30)
        os.kill(first.pid, signal.SIGKILL)
        assert first.process.wait(10) == -signal.SIGKILL
        first.kill_everything()

        proxy.clear()
        second = serve(config)
        wait_for(lambda: query(config.state_db, "SELECT state FROM deliveries") == [("delivered",)],
                 "the delivery after the restart", 20)
        second.stop()
    with open_store(f"sqlite:///{config.state_db}") as store:
        [record] = store.deliveries_of(STUDY_UID)
    assert (record.revision, record.state, record.attempts) == (1, DeliveryState.DELIVERED, 1)
    identifier = f"urn:dicom:uid|urn:oid:{STUDY_UID}"
    assert len(fhir_server.search("ImagingStudy", identifier=identifier).get("entry", [])) == 1
