"""The sample generator is a pure function of the code: same bytes in every process, and in `sample_dicom/`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Warnings are errors in the child too, like in this test run.
GENERATE = (
    "import sys; from pathlib import Path; from bridge.samples import write_samples; write_samples(Path(sys.argv[1]))"
)


def _generate_in_fresh_process(out_dir: Path, *, hash_seed: str, tz: str) -> None:
    """Run write_samples in a new interpreter with its own hash seed and local time zone."""
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = hash_seed  # set ordering differs between the two runs
    env["TZ"] = tz  # so does the local clock: no value may come from it
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    subprocess.run(
        [sys.executable, "-W", "error", "-c", GENERATE, str(out_dir)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


def _dicom_files(root: Path) -> dict[str, bytes]:
    """Return every .dcm file below root by its relative POSIX path."""
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*.dcm"))}


def _assert_same_files(expected: dict[str, bytes], actual: dict[str, bytes]) -> None:
    assert sorted(actual) == sorted(expected)
    differing = [name for name in expected if expected[name] != actual[name]]
    assert differing == [], f"files whose bytes differ: {differing}"


def test_two_fresh_processes_write_byte_identical_files(tmp_path: Path) -> None:
    _generate_in_fresh_process(tmp_path / "first", hash_seed="1", tz="UTC")
    _generate_in_fresh_process(tmp_path / "second", hash_seed="2", tz="Asia/Tokyo")

    first = _dicom_files(tmp_path / "first")
    assert len(first) == 25
    _assert_same_files(first, _dicom_files(tmp_path / "second"))


def test_committed_sample_dicom_is_exactly_the_generators_output(tmp_path: Path, sample_dicom: Path) -> None:
    _generate_in_fresh_process(tmp_path, hash_seed="3", tz="Europe/Warsaw")

    # Regenerate with `dicom-bridge samples sample_dicom` when this fails after an intended change.
    _assert_same_files(_dicom_files(tmp_path), _dicom_files(sample_dicom))
