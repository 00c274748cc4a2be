"""Input expansion: folders recursively, hidden entries skipped, each file once."""

from __future__ import annotations

from pathlib import Path

from bridge.ingest.files import iter_files


def test_folders_are_walked_sorted_and_files_named_twice_are_read_once(tmp_path: Path) -> None:
    for name in ("b/2.dcm", "b/1.dcm", "a.dcm", ".hidden/x.dcm", "b/.tmp.dcm"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = list(iter_files([tmp_path, tmp_path / "b", tmp_path / "a.dcm"]))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.dcm", "b/1.dcm", "b/2.dcm"]


def test_missing_path_is_yielded_for_the_reader_to_report(tmp_path: Path) -> None:
    assert list(iter_files([tmp_path / "nowhere.dcm"])) == [tmp_path / "nowhere.dcm"]
