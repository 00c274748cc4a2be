"""Several listener processes behind one port (listener.processes): connections go to the least busy listener,
every instance is stored once, the study seals once, and the processes' counters reach /metrics."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from bridge.service.harness import Bridge
from bridge.service.scu import send_files
from tests.conftest import SAMPLE_DICOM
from tests.factories import wait_for

SAMPLE_FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))
STUDY_UID = str(dcmread(SAMPLE_FILES[0], stop_before_pixels=True).StudyInstanceUID)


def associate(bridge: Bridge) -> object:
    ae = AE(ae_title="HARNESS")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
    assert assoc.is_established
    return assoc


def test_connections_go_to_the_least_busy_listener(tmp_path: Path) -> None:
    with Bridge.running(tmp_path, listener={"processes": 3}) as bridge:
        listeners = bridge.service.listeners
        assert listeners is not None and len(listeners.pids) == 2
        children = {p.pid for p in psutil.Process().children()}
        assert set(listeners.pids) <= children
        held = [associate(bridge) for _ in range(3)]
        wait_for(lambda: listeners._open is not None and listeners._open[:] == [1, 1, 1], "one connection each", 10)
        fourth = associate(bridge)
        assert sorted(listeners._open[:]) == [1, 1, 2]
        for assoc in [*held, fourth]:
            assoc.release()
        wait_for(lambda: listeners._open[:] == [0, 0, 0], "every connection closed", 10)
        assert not listeners.busy


def test_concurrent_associations_store_everything_once_and_seal_once(tmp_path: Path) -> None:
    parts = [SAMPLE_FILES[i::4] for i in range(4)]
    statuses: list[list[int]] = [[] for _ in parts]
    with Bridge.running(tmp_path, listener={"processes": 2}) as bridge:

        def send(index: int) -> None:
            statuses[index] = [r.status for r in send_files(parts[index], bridge.port, bridge.ae_title, f"CT0{index}")]

        threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        bridge.wait_idle()
        [study] = bridge.studies()
        stored = bridge.service.store.instances_of(STUDY_UID)
        wait_for(lambda: "bridge_instances_received_total{route=\"dicom\"} 25.0" in
                 httpx.get(bridge.service.http_url + "metrics").text, "the listener processes' counters", 10)
        metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(httpx.get(bridge.service.http_url + "metrics").text)
                   for s in f.samples}
    assert [set(s) for s in statuses] == [{0x0000}] * 4
    assert (study.revision, study.instance_count) == (1, len(SAMPLE_FILES))
    assert sorted(r.sop_instance_uid for r in stored) == sorted(
        str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in SAMPLE_FILES)
    assert {r.calling_ae for r in stored} == {"CT00", "CT01", "CT02", "CT03"}
    assert metrics[("bridge_associations_total", (("result", "accepted"),))] == 4
    assert metrics[("bridge_received_bytes_total", (("route", "dicom"),))] == sum(r.size for r in stored)


def test_refusals_in_a_listener_process_are_answered_and_counted(tmp_path: Path) -> None:
    listener = {"processes": 2, "allowed_calling_aets": ["HARNESS"]}
    with Bridge.running(tmp_path, listener=listener) as bridge:
        rejected = []
        for _ in range(4):  # ties go in turn: both the service's listener and the process refuse
            ae = AE(ae_title="INTRUDER")
            ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
            assoc = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
            rejected.append((assoc.is_rejected, assoc.acceptor.primitive.diagnostic if assoc.is_rejected else None))
        wait_for(lambda: 'bridge_associations_total{result="rejected_calling_ae"} 4.0' in
                 httpx.get(bridge.service.http_url + "metrics").text, "four counted refusals", 10)
    assert rejected == [(True, 0x03)] * 4
