"""A large build reads its headers on two cores (bridge.service.work.read_outcomes): the same outcomes as reading
them one by one, including the files that do not read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.api import read_outcome, reason_of
from bridge.errors import InputError
from bridge.model import InstanceHeader
from bridge.samples import write_ct_study
from bridge.service import work


def _comparable(outcome: InstanceHeader | InputError | str) -> object:
    return reason_of(outcome) if isinstance(outcome, InputError) else outcome


@pytest.mark.parametrize("bad_in", ["first half", "second half"])
def test_forked_reading_gives_the_outcomes_of_reading_one_by_one(tmp_path: Path, bad_in: str) -> None:
    files = [str(p) for p in write_ct_study(tmp_path / "ct", n_series=2, per_series=210, seed="reads", rows=8,
                                            columns=8)]
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(Path(files[0]).read_bytes()[:700])
    text = tmp_path / "notes.dcm"
    text.write_text("not DICOM")
    bad = [str(truncated), str(text)]
    paths = bad + files if bad_in == "first half" else files + bad
    assert len(paths) >= work.PARALLEL_READ_MIN

    outcomes = work.read_outcomes(paths)

    assert set(outcomes) == set(paths)
    assert {p: _comparable(o) for p, o in outcomes.items()} == {p: _comparable(read_outcome(Path(p))) for p in paths}
    assert sum(isinstance(o, InstanceHeader) for o in outcomes.values()) == len(files)
    assert all(isinstance(outcomes[p], InputError) for p in bad)


def test_a_few_headers_are_read_without_a_fork(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = [str(p) for p in write_ct_study(tmp_path / "ct", n_series=1, per_series=3, seed="few", rows=8,
                                            columns=8)]

    def no_fork() -> int:
        raise AssertionError("forked for three headers")

    monkeypatch.setattr(work.os, "fork", no_fork)
    outcomes = work.read_outcomes(files)
    assert all(isinstance(outcomes[p], InstanceHeader) for p in files)
