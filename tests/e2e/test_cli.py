"""The CLI through its real entry point: convert -> validate, exit codes and output files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=120
    )


def test_convert_then_validate(tmp_path: Path, sample_dicom: Path) -> None:
    out = tmp_path / "out"
    done = run("convert", str(sample_dicom), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1
    study = json.loads((folders[0] / "ImagingStudy.json").read_text())
    assert study["resourceType"] == "ImagingStudy" and study["numberOfInstances"] == 25
    assert json.loads((folders[0] / "Patient.json").read_text())["resourceType"] == "Patient"
    reports = sorted(folders[0].glob("report-*.json"))
    assert len(reports) == 1
    assert "25" in done.stdout and str(reports[0]) in done.stdout.replace("\n", "")
    checked = run("validate", str(reports[0]))
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.strip().endswith(f"{reports[0]}: ok")


def test_convert_exit_status_says_files_were_rejected(tmp_path: Path, sample_dicom: Path) -> None:
    batch = tmp_path / "in"
    shutil.copytree(sample_dicom, batch)
    (batch / "junk.bin").write_bytes(b"\x00" * 300)
    done = run("convert", str(batch), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert f"rejected {batch / 'junk.bin'}: not a DICOM file" in done.stdout
    assert len(list((tmp_path / "out").glob("*/report-*.json"))) == 1


def test_validate_reports_rule_ids_and_exit_1(tmp_path: Path) -> None:
    bundle = {"resourceType": "Bundle", "type": "document", "entry": []}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    done = run("validate", str(path))
    assert done.returncode == 1
    assert "bdl-10" in done.stdout or "bdl-9" in done.stdout


def test_samples_writes_the_committed_files(tmp_path: Path, sample_dicom: Path) -> None:
    done = run("samples", str(tmp_path / "s"))
    assert done.returncode == 0, done.stderr
    made = {p.relative_to(tmp_path / "s"): p.read_bytes() for p in (tmp_path / "s").rglob("*.dcm")}
    committed = {p.relative_to(sample_dicom): p.read_bytes() for p in sample_dicom.rglob("*.dcm")}
    assert made == committed


def test_help_and_version() -> None:
    assert "convert" in run("--help").stdout
    assert run("--version").stdout.startswith("dicom-bridge ")
    assert run("convert").returncode == 2


def test_bad_config_exits_3_naming_the_key(tmp_path: Path, sample_dicom: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[fhir]\nsite_timezone = "Nowhere/Town"\n')
    done = run("convert", str(sample_dicom), "--out", str(tmp_path / "out"), "--config", str(config))
    assert done.returncode == 3
    assert "fhir.site_timezone" in done.stderr


def test_worker_processes_give_the_same_files_as_one(tmp_path: Path) -> None:
    from bridge.samples import write_ct_study

    files = write_ct_study(tmp_path / "in", n_series=3, per_series=80)  # enough for two workers
    assert run("convert", str(tmp_path / "in"), "--out", str(tmp_path / "a"), "-j", "1").returncode == 0
    assert run("convert", str(tmp_path / "in"), "--out", str(tmp_path / "b"), "-j", "2").returncode == 0
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.json")}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*.json")}
    assert a == b
    study = json.loads(next((tmp_path / "b").rglob("ImagingStudy.json")).read_text())
    assert study["numberOfInstances"] == len(files) == 240
