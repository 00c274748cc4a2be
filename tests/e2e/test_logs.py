"""What ``dicom-bridge serve`` logs: one line per meaningful event, JSON lines when configured, no patient values."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from bridge.log import EVENTS
from bridge.service.scu import send_files
from tests.conftest import SAMPLE_DICOM
from tests.e2e.conftest import AE_TITLE, ServeConfig, ServeProcess, wait_for, wait_sealed, write_config
from tests.fault_proxy import free_port

SAMPLE_FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))


def json_lines(text: str) -> list[dict[str, Any]]:
    """The log's JSON lines (the console's own lines, e.g. "serving", are text and skipped)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_log_has_one_line_per_event_and_no_patient_values(
    tmp_path: Path, serve: Callable[[ServeConfig], ServeProcess]
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sink = {"name": "national", "base_url": f"http://127.0.0.1:{free_port()}/fhir", "max_attempts": 1}
    config = write_config(tmp_path, log={"format": "json", "level": "info"}, watch={"inboxes": [inbox],
                          "interval": 0.2}, delivery={"fhir_servers": [sink], "poll_interval": 0.1})
    server = serve(config)
    header = dcmread(SAMPLE_FILES[0], stop_before_pixels=True)
    study_uid = str(header.StudyInstanceUID)

    wrong = AE(ae_title="CT01")
    wrong.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assert wrong.associate("127.0.0.1", server.port, ae_title="NOT_THE_BRIDGE").is_rejected
    assert {r.status for r in send_files(SAMPLE_FILES, server.port, AE_TITLE, "CT01")} == {0x0000}
    (inbox / "notes.txt").write_text("not DICOM")
    wait_sealed(config, study_uid, 1, len(SAMPLE_FILES))
    wait_for(lambda: '"delivery.dead"' in server.log() and '"file.quarantined"' in server.log(),
             "the dead letter and the quarantined file", 30)
    assert server.stop() == 0

    lines = json_lines(server.log())
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    events = [line["event"] for line in lines if "event" in line]
    assert set(events) <= set(EVENTS)  # every event name is in the catalogue
    for event in ("service.started", "listener.started", "http.started", "association.rejected",
                  "association.accepted", "study.building", "study.sealed", "delivery.dead", "file.quarantined",
                  "service.stopping", "service.stopped"):
        assert event in events, f"no {event} line"
    assert events.count("study.sealed") == 1
    assert events.count("association.accepted") == 1
    [sealed] = [line for line in lines if line.get("event") == "study.sealed"]
    assert (sealed["study_uid"], sealed["revision"], sealed["level"]) == (study_uid, 1, "info")
    [rejected] = [line for line in lines if line.get("event") == "association.rejected"]
    assert (rejected["calling_ae"], rejected["reason"], rejected["level"]) == ("CT01", "called_ae", "warning")
    [quarantined] = [line for line in lines if line.get("event") == "file.quarantined"]
    assert quarantined["path"] == str(inbox / "notes.txt")
    [dead] = [line for line in lines if line.get("event") == "delivery.dead"]
    assert (dead["sink"], dead["level"]) == ("national", "error")
    assert not any(line["level"] == "debug" for line in lines)

    text = server.log()
    for value in (str(header.PatientID), str(header.PatientBirthDate), header.PatientName.family_name):
        assert value and value not in text and json.dumps(value)[1:-1] not in text, f"{value!r} was logged"
