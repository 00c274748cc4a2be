"""Delivery to a real FHIR R5 server (Medplum's engine): idempotent, retried through faults, dead-lettered,
replayed, and never duplicated. A fault-injecting proxy sits between the bridge and the server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from typer.testing import CliRunner

from bridge import Bridge
from bridge.cli import app
from bridge.fhir.ids import resource_id
from bridge.store import DeliveryState
from tests import fault_proxy as fp
from tests.factories import sample_straggler, wait_for

SAMPLE = Path(__file__).resolve().parents[2] / "sample_dicom"
FILES = sorted(SAMPLE.rglob("*.dcm"))
STUDY_UID = str(dcmread(FILES[0], stop_before_pixels=True).StudyInstanceUID)
REPORT_UID = str(dcmread(SAMPLE / "ct-chest" / "report" / "SR0001.dcm", stop_before_pixels=True).SOPInstanceUID)


@pytest.fixture
def server(fhir_server: Any) -> Iterator[Any]:
    fhir_server.reset()
    yield fhir_server


def sink(base: str, **changes: Any) -> dict[str, Any]:
    return {"fhir_servers": [{"name": "test", "base_url": base, "timeout": 2.0, "backoff": 0.2,
                              "backoff_cap": 1.0, "max_attempts": 8, **changes}], "poll_interval": 0.05}




def total(server: Any, resource_type: str, **params: str) -> int:
    bundle = server.search(resource_type, **params)
    return len(bundle.get("entry", []))


def study_counts(server: Any) -> dict[str, int]:
    identifier = f"urn:dicom:uid|urn:oid:{STUDY_UID}"
    [study] = [e["resource"] for e in server.search("ImagingStudy", identifier=identifier).get("entry", [])]
    return {
        "ImagingStudy": total(server, "ImagingStudy", identifier=identifier),
        "DiagnosticReport": total(server, "DiagnosticReport", study=f"ImagingStudy/{study['id']}"),
        "Patient": total(server, "Patient", _id=study["subject"]["reference"].split("/")[1]),
        "Composition": total(server, "Composition", identifier=f"urn:dicom:uid|urn:oid:{REPORT_UID}"),
    }


def straggler(tmp_path: Path) -> Path:
    return sample_straggler(SAMPLE, tmp_path, "2.25.987654321987654321", 99)


def delivered(bridge: Bridge) -> list[tuple[int, DeliveryState]]:
    store = bridge.service.store
    assert store is not None
    return [(d.revision, d.state) for d in store.deliveries_of(STUDY_UID)]


def test_revisions_are_delivered_once_each_and_the_server_holds_one_of_everything(server: Any, tmp_path: Path) -> None:
    with Bridge.running(tmp_path, quiet_period=0.5, delivery=sink(server.base)) as bridge:
        assert bridge.send(FILES) == [0] * len(FILES)
        bridge.wait_idle()
        assert delivered(bridge) == [(1, DeliveryState.DELIVERED)]
        first = study_counts(server)
        assert bridge.send(FILES) == [0] * len(FILES)  # the same study again: nothing new to deliver
        assert bridge.send([straggler(tmp_path)]) == [0]  # a straggler: revision 2
        bridge.wait_idle()
        assert delivered(bridge) == [(1, DeliveryState.DELIVERED), (2, DeliveryState.DELIVERED)]
    assert first == study_counts(server) == {"ImagingStudy": 1, "DiagnosticReport": 1, "Patient": 1,
                                             "Composition": 1}
    [study] = [e["resource"] for e in server.search("ImagingStudy", identifier=f"urn:dicom:uid|urn:oid:{STUDY_UID}")
               ["entry"]]
    assert study["numberOfInstances"] == len(FILES) + 1  # revision 2 replaced revision 1
    [report] = [e["resource"] for e in server.search("DiagnosticReport", study=f"ImagingStudy/{study['id']}")["entry"]]
    assert report["status"] == "final"
    document = server.get(f"Bundle/{resource_id('Bundle', 'urn:dicom:uid', f'urn:oid:{REPORT_UID}')}")
    assert document["type"] == "document" and document["identifier"]["value"] == f"urn:oid:{REPORT_UID}"
    assert document["entry"][0]["fullUrl"].startswith("http://localhost/fhir/Composition/")  # left as built


@pytest.mark.parametrize("fault", [
    pytest.param(lambda: fp.refuse(), id="connection-refused"),
    pytest.param(lambda: fp.status(500, count=2), id="500-twice"),
    pytest.param(lambda: fp.status(429, headers={"Retry-After": "1"}, count=1), id="429-retry-after"),
    pytest.param(lambda: fp.delay(3.0, count=1), id="timeout"),
])
def test_transient_faults_are_retried_until_delivered(server: Any, tmp_path: Path, fault: Callable[[], Any]) -> None:
    proxy = fp.FaultProxy(server.base, port=fp.free_port())  # started after the bridge forked its workers
    with Bridge.running(tmp_path, quiet_period=0.5, delivery=sink(proxy.base)) as bridge, proxy:
        proxy.set(fault())
        assert bridge.send(FILES) == [0] * len(FILES)
        store = bridge.service.store
        assert store is not None
        wait_for(lambda: any(d.attempts >= 1 for d in store.deliveries_of(STUDY_UID)), "a failed attempt")
        proxy.clear()
        wait_for(lambda: delivered(bridge) == [(1, DeliveryState.DELIVERED)], "the delivery")
        [record] = store.deliveries_of(STUDY_UID)
        assert record.attempts >= 2 and record.last_error is None
    assert study_counts(server) == {"ImagingStudy": 1, "DiagnosticReport": 1, "Patient": 1, "Composition": 1}


def test_a_refused_resource_is_dead_lettered_and_replay_delivers_it_after_the_fix(server: Any, tmp_path: Path) -> None:
    runner = CliRunner()
    proxy = fp.FaultProxy(server.base, port=fp.free_port())
    with Bridge.running(tmp_path, quiet_period=0.5, delivery=sink(proxy.base)) as bridge, proxy:
        proxy.set(fp.reject(400, "Observation.status: invalid code", when=fp.body_contains(b'"Observation"')))
        assert bridge.send(FILES) == [0] * len(FILES)
        store = bridge.service.store
        assert store is not None
        wait_for(lambda: bool(store.dead_letters()), "the dead letter")
        [dead] = store.dead_letters()
        assert dead.attempts == 1  # a 400 is not retried
        assert dead.last_error is not None and "Observation.status: invalid code" in dead.last_error
        env = {"BRIDGE_SERVICE__DATA_DIR": str(tmp_path / "data")}
        listed = runner.invoke(app, ["deadletters"], env=env)
        assert listed.exit_code == 1 and "1 dead letter(s)" in listed.output and "invalid code" in listed.output
        assert total(server, "ImagingStudy", identifier=f"urn:dicom:uid|urn:oid:{STUDY_UID}") == 0  # all or nothing
        proxy.clear()  # the cause is fixed
        replayed = runner.invoke(app, ["replay", str(dead.delivery_id)], env=env)
        assert replayed.exit_code == 0, replayed.output
        assert f"re-queued: {dead.delivery_id}" in replayed.output
        bridge.service.deliverer.wake.set()  # type: ignore[union-attr]
        wait_for(lambda: delivered(bridge) == [(1, DeliveryState.DELIVERED)], "the replayed delivery")
    assert study_counts(server) == {"ImagingStudy": 1, "DiagnosticReport": 1, "Patient": 1, "Composition": 1}
