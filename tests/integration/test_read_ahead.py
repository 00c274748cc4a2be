"""Reading headers ahead: placing a received instance reads its whole header, and while a study waits out its
quiet period the scheduler reads the headers placing did not; its build takes them instead of reading the files
again.

In a module of their own: the services started here fork their workers, which must not happen while another
in-process service (a module-scoped fixture's) runs threads that hold SQLite's locks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from bridge.service import scheduler as scheduler_module
from bridge.service.harness import Bridge
from tests.conftest import SAMPLE_DICOM
from tests.integration.test_operating import scrape

SAMPLE_FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))
STUDY_UID = str(dcmread(SAMPLE_FILES[0], stop_before_pixels=True).StudyInstanceUID)


def _study_files(bridge: Bridge) -> dict[str, bytes]:
    folder = bridge.service.output_dir / STUDY_UID
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_headers_read_when_placed_give_the_same_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every header is read once, when its instance is placed, even with a quiet period too short to read ahead
    in, and the build reads no file again; what it writes is byte for byte what a build that reads every file
    writes."""
    with Bridge.running(tmp_path / "ahead", quiet_period=0.2) as bridge:
        assert set(bridge.send(SAMPLE_FILES)) == {0x0000}
        bridge.wait_idle()
        ahead = scrape(bridge)
        ahead_files = _study_files(bridge)
    monkeypatch.setattr(scheduler_module, "READ_AHEAD_MAX", 0)  # no header kept: the build reads every file
    with Bridge.running(tmp_path / "direct", quiet_period=0.2) as bridge:
        assert set(bridge.send(SAMPLE_FILES)) == {0x0000}
        bridge.wait_idle()
        direct = scrape(bridge)
        direct_files = _study_files(bridge)
    assert ahead[("bridge_headers_read_ahead_total", ())] == len(SAMPLE_FILES)
    assert direct[("bridge_headers_read_ahead_total", ())] == 0
    assert ahead[("bridge_studies_sealed_total", ())] == direct[("bridge_studies_sealed_total", ())] == 1
    assert "ImagingStudy.json" in ahead_files and any(name.startswith("report-") for name in ahead_files)
    assert ahead_files == direct_files


def test_read_ahead_reads_what_placing_did_not_once_even_when_it_fails(tmp_path: Path) -> None:
    """The file whose UIDs read but whose header does not is placed without its header; the quiet period's
    read-ahead tries it once (not on every pass), and every other header came from placing."""
    from bridge.service.work import read_ahead
    from tests.badinput import corpus

    [bad] = [item for item in corpus("read-ahead") if item.name == "length-past-end-UT"]  # UIDs read, then cut
    bad_file = tmp_path / "bad.dcm"
    bad_file.write_bytes(bad.data)
    with Bridge.running(tmp_path / "bridge", quiet_period=3.0) as bridge:
        scheduler = bridge.service.scheduler
        assert scheduler is not None
        submit = scheduler.pool.submit
        batches: list[tuple[str, ...]] = []

        def counting(fn: Any, /, *args: Any) -> Any:
            if fn is read_ahead:
                batches.append(args[0])
            return submit(fn, *args)

        scheduler.pool.submit = counting  # type: ignore[method-assign]
        bridge.drop([bad_file])
        assert set(bridge.send(SAMPLE_FILES)) == {0x0000}
        bridge.wait_idle()
        metrics = scrape(bridge)
        studies = {s.study_instance_uid: s for s in bridge.studies()}
    read = [path for batch in batches for path in batch]
    assert [Path(path).name for path in read] == [hashlib.sha256(bad.data).hexdigest() + ".dcm"]  # the bad file, once
    assert metrics[("bridge_headers_read_ahead_total", ())] == len(SAMPLE_FILES)
    assert studies[STUDY_UID].state.value == "sealed"
    [other] = [s for uid, s in studies.items() if uid != STUDY_UID]
    assert (other.state.value, other.last_error, other.due_at) == ("failed", "no instance of the study could be used",
                                                                  None)


def test_placing_leaves_headers_to_the_build_while_the_listeners_need_every_core(tmp_path: Path) -> None:
    """With as many associations sending as the machine has cores, placing reads only the UIDs (the listeners
    need the CPU); the build reads the headers and writes the same study."""
    with Bridge.running(tmp_path / "busy", quiet_period=0.2) as bridge:  # due before a quiet-period read-ahead
        scheduler = bridge.service.scheduler
        assert scheduler is not None
        scheduler.associations = lambda: scheduler.cores  # as if one association per core were sending
        assert set(bridge.send(SAMPLE_FILES)) == {0x0000}
        bridge.wait_idle()
        metrics = scrape(bridge)
        studies = bridge.studies()
    assert metrics[("bridge_headers_read_ahead_total", ())] == 0
    assert [(s.study_instance_uid, s.state.value) for s in studies] == [(STUDY_UID, "sealed")]
