"""Reading headers ahead: while a study waits out its quiet period the scheduler reads its instances' headers, and
its build takes them instead of reading the files again.

In a module of their own: the services started here fork their workers, which must not happen while another
in-process service (a module-scoped fixture's) runs threads that hold SQLite's locks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom import dcmread

from bridge.service.harness import Bridge
from tests.conftest import SAMPLE_DICOM
from tests.integration.test_operating import scrape

SAMPLE_FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))
STUDY_UID = str(dcmread(SAMPLE_FILES[0], stop_before_pixels=True).StudyInstanceUID)


def _study_files(bridge: Bridge) -> dict[str, bytes]:
    folder = bridge.service.output_dir / STUDY_UID
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_headers_read_during_the_quiet_period_give_the_same_study(tmp_path: Path) -> None:
    """With a quiet period long enough, every header is read while the study waits and its build reads no file
    again; what it writes is byte for byte what a build that reads every file writes."""
    with Bridge.running(tmp_path / "ahead", quiet_period=3.0) as bridge:
        assert set(bridge.send(SAMPLE_FILES)) == {0x0000}
        bridge.wait_idle()
        ahead = scrape(bridge)
        ahead_files = _study_files(bridge)
    with Bridge.running(tmp_path / "direct", quiet_period=0.2) as bridge:  # due before any read-ahead
        assert set(bridge.send(SAMPLE_FILES)) == {0x0000}
        bridge.wait_idle()
        direct = scrape(bridge)
        direct_files = _study_files(bridge)
    assert ahead[("bridge_headers_read_ahead_total", ())] == len(SAMPLE_FILES)
    assert direct[("bridge_headers_read_ahead_total", ())] == 0
    assert ahead[("bridge_studies_sealed_total", ())] == direct[("bridge_studies_sealed_total", ())] == 1
    assert "ImagingStudy.json" in ahead_files and any(name.startswith("report-") for name in ahead_files)
    assert ahead_files == direct_files


def test_read_ahead_reads_each_file_once_even_one_that_fails(tmp_path: Path) -> None:
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
    assert len(read) == len(set(read)) == len(SAMPLE_FILES) + 1  # the bad file too, and only once
    assert metrics[("bridge_headers_read_ahead_total", ())] == len(SAMPLE_FILES)
    assert studies[STUDY_UID].state.value == "sealed"
    [other] = [s for uid, s in studies.items() if uid != STUDY_UID]
    assert (other.state.value, other.last_error, other.due_at) == ("failed", "no instance of the study could be used",
                                                                  None)
