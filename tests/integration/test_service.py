"""The service in-process: real associations over loopback, a real SQLite file, real inbox folders."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, _config, evt
from pynetdicom.sop_class import CTImageStorage, Verification

from bridge.ingest.scp import set_tcp_nodelay
from bridge.service.harness import Bridge
from bridge.service.scu import send_files
from bridge.store import StudyState
from tests.conftest import SAMPLE_DICOM
from tests.factories import ct_dataset, part10_bytes, write_dataset

SERIES_1 = sorted((SAMPLE_DICOM / "ct-chest" / "series-1").glob("*.dcm"))
REST = sorted(p for p in (SAMPLE_DICOM / "ct-chest").rglob("*.dcm") if p not in SERIES_1)
STUDY_UID = str(dcmread(SERIES_1[0], stop_before_pixels=True).StudyInstanceUID)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.05)


def straggler(tmp_path: Path, uid: str = "2.25.1234567890123456789") -> Path:
    ds = dcmread(SERIES_1[0])
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.InstanceNumber = 99
    path = tmp_path / "straggler.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_study_sent_in_two_associations_seals_once(tmp_path: Path) -> None:
    with Bridge.running(tmp_path, quiet_period=1.0) as bridge:
        assert bridge.send(SERIES_1) == [0x0000] * 10
        assert bridge.send(REST) == [0x0000] * 15
        bridge.wait_idle()
        [study] = bridge.studies()
        assert (study.study_instance_uid, study.state, study.revision) == (STUDY_UID, StudyState.SEALED, 1)
        assert study.instance_count == 25
        imaging_study = bridge.imaging_study(STUDY_UID)
        assert imaging_study.numberOfInstances == 25
        assert len(imaging_study.series) == 7
        [bundle] = bridge.report_bundles(STUDY_UID)
        assert bundle.type == "document"


def test_straggler_makes_revision_2_with_the_same_ids(tmp_path: Path) -> None:
    with Bridge.running(tmp_path) as bridge:
        bridge.send(SERIES_1 + REST)
        bridge.wait_idle()
        first = bridge.imaging_study(STUDY_UID)
        [first_bundle] = bridge.report_bundles(STUDY_UID)
        files_before = sorted(p.name for p in bridge.study_folder(STUDY_UID).iterdir())
        assert bridge.send([straggler(tmp_path)]) == [0x0000]
        bridge.wait_idle()
        [study] = bridge.studies()
        assert (study.state, study.revision, study.instance_count) == (StudyState.SEALED, 2, 26)
        second = bridge.imaging_study(STUDY_UID)
        assert second.id == first.id
        assert second.numberOfInstances == 26
        assert bridge.report_bundles(STUDY_UID)[0].id == first_bundle.id
        assert sorted(p.name for p in bridge.study_folder(STUDY_UID).iterdir()) == files_before
        index = json.loads((bridge.study_folder(STUDY_UID) / "index.json").read_text())
        assert index["revision"] == 2
        listed = {f["name"]: f for f in index["files"]}
        assert set(listed) == set(files_before) - {"index.json"}
        image_study = listed["ImagingStudy.json"]
        assert (image_study["resourceType"], image_study["id"]) == ("ImagingStudy", second.id)
        folder = bridge.study_folder(STUDY_UID)
        assert all(hashlib.sha256((folder / name).read_bytes()).hexdigest() == f["sha256"]
                   for name, f in listed.items())


def test_identical_resend_is_a_no_op_and_changed_bytes_replace(tmp_path: Path) -> None:
    with Bridge.running(tmp_path) as bridge:
        bridge.send(SERIES_1)
        bridge.wait_idle()
        assert bridge.send(SERIES_1[:3]) == [0x0000] * 3
        bridge.wait_idle()
        [study] = bridge.studies()
        assert study.revision == 1  # nothing new: no revision
        spool_files = sorted((bridge.service.data_dir / "spool").rglob("*.dcm"))
        assert len(spool_files) == 10

        changed = dcmread(SERIES_1[0])
        changed.SeriesDescription = "corrected"
        path = tmp_path / "changed.dcm"
        changed.save_as(path, enforce_file_format=True)
        assert bridge.send([path]) == [0x0000]
        bridge.wait_idle()
        [study] = bridge.studies()
        assert (study.revision, study.instance_count) == (2, 10)
        assert len(sorted((bridge.service.data_dir / "spool").rglob("*.dcm"))) == 10  # the old copy is gone
        series = bridge.imaging_study(STUDY_UID).series[0]
        assert series.description == "corrected"


def associate(bridge: Bridge, calling: str, called: str | None = None) -> object:
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    handlers = [(evt.EVT_CONN_OPEN, set_tcp_nodelay)]
    return ae.associate("127.0.0.1", bridge.port, ae_title=called or bridge.ae_title, evt_handlers=handlers)


@pytest.mark.parametrize(
    ("calling", "called", "diagnostic"),
    [
        ("OTHER", None, 0x03),  # calling AE title not recognized
        ("CT01", None, 0x03),  # known AE, but not from this address
        ("MR01", "SOMEONE_ELSE", 0x07),  # called AE title not recognized
    ],
)
def test_refused_associations_get_the_proper_reason(
    tmp_path: Path, calling: str, called: str | None, diagnostic: int
) -> None:
    listener = {"allowed_calling_aets": ["CT01", "MR01"], "calling_ae_hosts": {"CT01": ["10.0.0.0/8"]}}
    with Bridge.running(tmp_path, listener=listener) as bridge:
        assoc = associate(bridge, calling, called)
        assert assoc.is_rejected
        rejection = assoc.acceptor.primitive
        assert (rejection.result, rejection.result_source, rejection.diagnostic) == (0x01, 0x01, diagnostic)
        accepted = associate(bridge, "MR01")
        assert accepted.is_established
        assert accepted.send_c_echo().Status == 0x0000
        accepted.release()


def garbage_file(path: Path) -> Path:
    """Valid File Meta Information followed by bytes that are no data set (a tag group of FFFE)."""
    path.write_bytes(part10_bytes(ExplicitVRLittleEndian, b"\xfe\xff\x00\xe0garbage!" * 4, "2.25.42"))
    return path


def test_undecodable_data_set_is_refused_with_cannot_understand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # send the file's bytes as they are
    with Bridge.running(tmp_path) as bridge:
        ae = AE(ae_title="HARNESS")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
        assert assoc.is_established
        status = assoc.send_c_store(garbage_file(tmp_path / "garbage.dcm"))
        assoc.release()
        assert status.Status == 0xC000
        assert "does not start with a data element" in str(status.ErrorComment)
        assert bridge.studies() == []
        assert list((bridge.service.data_dir / "tmp").iterdir()) == []
        assert list((bridge.service.data_dir / "spool").rglob("*.dcm")) == []


def test_spool_not_writable_gives_out_of_resources_then_recovers(tmp_path: Path) -> None:
    with Bridge.running(tmp_path) as bridge:
        spool = bridge.service.data_dir / "spool"
        target_dir = spool / "00"
        moved = spool.parent / "spool-moved"
        # Every fan-out folder replaced by a plain file: no rename into the spool can succeed.
        shutil.move(spool, moved)
        spool.write_bytes(b"")
        statuses = bridge.send(SERIES_1[:2])
        assert statuses == [0xA700, 0xA700]
        assert list((bridge.service.data_dir / "tmp").iterdir()) == []  # nothing half-written stays
        spool.unlink()
        shutil.move(moved, spool)
        assert target_dir.is_dir()
        assert bridge.send(SERIES_1[:2]) == [0x0000, 0x0000]
        bridge.wait_idle()
        [study] = bridge.studies()
        assert study.instance_count == 2


def test_folder_watch_takes_only_stable_files_and_quarantines_non_dicom(tmp_path: Path) -> None:
    with Bridge.running(tmp_path, watch={"interval": 3600}) as bridge:  # scans are driven by the test
        watch = bridge.service.watch
        assert watch is not None
        inbox = bridge.inbox
        growing = inbox / "growing.dcm"
        data = SERIES_1[0].read_bytes()
        growing.write_bytes(data[: len(data) // 2])
        (inbox / "notes.txt").write_text("not an image")
        assert watch.scan() == 0  # first sight: nothing is stable yet
        with growing.open("ab") as fp:
            fp.write(data[len(data) // 2 :])
        assert watch.scan() == 0  # notes.txt is stable but not DICOM; growing.dcm changed
        assert growing.exists()
        assert watch.scan() == 1
        assert not growing.exists()
        assert not (inbox / "notes.txt").exists()
        [(quarantined, reason)] = bridge.service.quarantine.entries()
        assert quarantined.name.endswith("notes.txt")
        assert quarantined.read_text() == "not an image"
        assert "not a DICOM file" in reason
        bridge.wait_idle()
        [study] = bridge.studies()
        assert (study.study_instance_uid, study.instance_count) == (STUDY_UID, 1)


def test_inbox_files_can_be_left_in_place(tmp_path: Path) -> None:
    watch = {"interval": 3600, "move_to_spool": False}
    with Bridge.running(tmp_path, watch=watch) as bridge:
        dropped = bridge.drop(SERIES_1[:3])
        assert bridge.service.watch is not None
        bridge.service.watch.scan()
        assert bridge.service.watch.scan() == 3
        assert bridge.service.watch.scan() == 0  # taken once
        bridge.wait_idle()
        assert all(p.exists() for p in dropped)
        assert bridge.service.store is not None
        paths = sorted(i.path for i in bridge.service.store.instances_of(STUDY_UID))
        assert paths == sorted(str(p) for p in dropped)


def test_header_values_never_choose_a_path(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile"
    long_uid = "1." * 5000 + "1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid UIDs this test is about
        write_dataset(ct_dataset(StudyInstanceUID="../../escape"), hostile / "escape.dcm")
        write_dataset(ct_dataset(SOPInstanceUID=long_uid), hostile / "long.dcm")
    with Bridge.running(tmp_path / "svc", watch={"interval": 3600}) as bridge:
        dropped = bridge.drop(sorted(hostile.iterdir()))
        assert bridge.service.watch is not None
        bridge.service.watch.scan()
        bridge.service.watch.scan()
        bridge.wait_idle()
        assert bridge.studies() == []
        reasons = sorted(reason for _, reason in bridge.service.quarantine.entries())
        assert reasons == [
            "SOP Instance UID '1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1....' is 10001 characters long (at most 64) "
            "(SOPInstanceUID)",
            "Study Instance UID '../../escape' holds characters other than digits and dots (StudyInstanceUID)",
        ]
        assert not any(p.exists() for p in dropped)
        root = tmp_path / "svc"
        written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(hostile)]
        assert written and all(p.resolve().is_relative_to(root) for p in written)
        assert not (tmp_path / "escape").exists()
        assert bridge.study_folder("../../escape").parent == bridge.output_dir


def test_quiet_period_per_calling_ae(tmp_path: Path) -> None:
    grouping = {"quiet_period": 600.0, "quiet_period_by_ae": {"FAST": 0.3}}
    with Bridge.running(tmp_path, grouping=grouping) as bridge:
        other_study = tmp_path / "other.dcm"
        write_dataset(ct_dataset(), other_study)
        assert bridge.send([other_study], calling_ae="SLOW") == [0x0000]
        assert bridge.send(SERIES_1, calling_ae="FAST") == [0x0000] * 10
        wait_for(lambda: any(s.state is StudyState.SEALED for s in bridge.studies()))
        states = {s.study_instance_uid: s.state for s in bridge.studies()}
        assert states[STUDY_UID] is StudyState.SEALED
        slow_uid = str(dcmread(other_study, stop_before_pixels=True).StudyInstanceUID)
        assert states[slow_uid] is StudyState.OPEN  # 600 s from its arrival: still waiting
        slow = next(s for s in bridge.studies() if s.study_instance_uid == slow_uid)
        assert slow.due_at is not None and slow.due_at - slow.last_arrival == 600.0


def test_associations_beyond_the_limit_are_refused_as_local_limit_exceeded(tmp_path: Path) -> None:
    with Bridge.running(tmp_path, listener={"max_associations": 1}) as bridge:
        first = associate(bridge, "HARNESS")
        assert first.is_established
        second = associate(bridge, "HARNESS")
        assert second.is_rejected
        rejection = second.acceptor.primitive
        assert (rejection.result, rejection.result_source, rejection.diagnostic) == (0x02, 0x03, 0x02)
        first.release()
        wait_for(lambda: not bridge.service.listener or not bridge.service.listener.busy)
        third = associate(bridge, "HARNESS")
        assert third.is_established
        third.release()


PRIVATE_SOP_CLASS = "1.2.826.0.1.3680043.10.1234.1.1"  # a private storage SOP class


def private_instance(tmp_path: Path) -> Path:
    ds = ct_dataset(SOPClassUID=PRIVATE_SOP_CLASS)
    return write_dataset(ds, tmp_path / "private.dcm")


def test_private_sop_classes_only_by_configuration(tmp_path: Path) -> None:
    path = private_instance(tmp_path)
    with Bridge.running(tmp_path / "default") as bridge:
        standard, private = send_files([SERIES_1[0], path], bridge.port, bridge.ae_title)
        assert standard.status == 0x0000
        assert private.status == -1
        assert private.comment is not None and PRIVATE_SOP_CLASS in private.comment
        bridge.wait_idle()
        assert [s.study_instance_uid for s in bridge.studies()] == [STUDY_UID]
    with Bridge.running(tmp_path / "extra", listener={"extra_sop_classes": [PRIVATE_SOP_CLASS]}) as bridge:
        assert bridge.send([path]) == [0x0000]
        bridge.wait_idle()
        [study] = bridge.studies()
        assert bridge.service.store is not None
        [instance] = bridge.service.store.instances_of(study.study_instance_uid)
        assert instance.sop_class_uid == PRIVATE_SOP_CLASS


def _worker_priorities(bridge: Bridge) -> list[int]:
    scheduler = bridge.service.scheduler
    assert scheduler is not None
    return [os.getpriority(os.PRIO_PROCESS, pid) for pid in scheduler.pool._processes]  # type: ignore[attr-defined]


def test_a_killed_worker_is_replaced_and_the_service_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service_priority = os.getpriority(os.PRIO_PROCESS, 0)
    with Bridge.running(tmp_path, service={"worker_niceness": 7}) as bridge:
        scheduler = bridge.service.scheduler
        assert scheduler is not None
        # Workers yield the cores to the listener (the configured niceness below the service's priority).
        assert _worker_priorities(bridge) == [min(service_priority + 7, 19)] * 2
        old_pool = scheduler.pool
        for process in list(old_pool._processes.values()):  # type: ignore[attr-defined]
            os.kill(process.pid, signal.SIGKILL)
        wait_for(lambda: scheduler.pool is not old_pool)
        assert "workers.restarted" in [getattr(r, "event", None) for r in caplog.records]
        assert bridge.send(SERIES_1) == [0x0000] * 10
        bridge.wait_idle()
        [study] = bridge.studies()
        assert (study.state, study.instance_count) == (StudyState.SEALED, 10)
        assert _worker_priorities(bridge) == [min(service_priority + 7, 19)] * 2  # the replacements too


def test_workers_can_keep_the_services_priority(tmp_path: Path) -> None:
    with Bridge.running(tmp_path, service={"worker_niceness": 0}) as bridge:
        assert _worker_priorities(bridge) == [os.getpriority(os.PRIO_PROCESS, 0)] * 2


def test_start_up_records_unrecorded_spool_files_and_sets_aside_incomplete_ones(tmp_path: Path) -> None:
    """A crash between a file's rename into the spool and its fsync can leave it unrecorded, and (never
    acknowledged) with content that does not match its name: recorded in the first case, quarantined in the
    second, never recorded as an instance."""
    spool = tmp_path / "data" / "spool"
    whole, cut = SERIES_1[0].read_bytes(), SERIES_1[1].read_bytes()
    whole_digest, cut_digest = hashlib.sha256(whole).hexdigest(), hashlib.sha256(cut).hexdigest()
    for digest, data in ((whole_digest, whole), (cut_digest, cut[: len(cut) // 2])):
        (spool / digest[:2]).mkdir(parents=True, exist_ok=True)
        (spool / digest[:2] / f"{digest}.dcm").write_bytes(data)
    whole_uid = str(dcmread(SERIES_1[0], stop_before_pixels=True).SOPInstanceUID)
    cut_uid = str(dcmread(SERIES_1[1], stop_before_pixels=True).SOPInstanceUID)
    with Bridge.running(tmp_path, quiet_period=0.2) as bridge:
        store = bridge.service.store
        assert store is not None
        wait_for(lambda: store.instance(whole_uid) is not None)
        bridge.wait_idle()
        record = store.instance(whole_uid)
        assert record is not None and (record.path, record.digest, record.source) == (
            str(spool / whole_digest[:2] / f"{whole_digest}.dcm"), whole_digest, "spool recovery")
        assert store.instance(cut_uid) is None
        [study] = bridge.studies()
        assert (study.state, study.instance_count) == (StudyState.SEALED, 1)
    [reason_file] = (tmp_path / "data" / "quarantine").glob("*.reason.txt")
    reason = reason_file.read_text(encoding="utf-8")
    assert f"{cut_digest}.dcm" in reason and "content does not match its name" in reason
    assert not (spool / cut_digest[:2] / f"{cut_digest}.dcm").exists()
