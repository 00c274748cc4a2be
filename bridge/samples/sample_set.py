"""The bundled sample set: the chest CT study and its report, as committed in ``sample_dicom/``."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread, dcmwrite

from bridge.samples.ct import CHEST_CT, write_study
from bridge.samples.report import build_report

CT_SERIES = 2
CT_INSTANCES_PER_SERIES = 10
CT_MATRIX = 16  # rows and columns: keeps the committed set near 100 KB
REPORT_FOLDER = "report"
REPORT_FILE = "SR0001.dcm"


def write_samples(out_dir: Path) -> list[Path]:
    """Write the bundled samples below ``out_dir/ct-chest/``; return the 21 paths sorted.

    ``series-1/`` and ``series-2/`` hold ten CT instances each (IM0001-IM0010), ``report/SR0001.dcm``
    the TID 2000 report whose evidence lists all twenty. The bytes are the same in every run; files
    of the same names are overwritten and nothing else in ``out_dir`` is touched.
    """
    ct_paths = write_study(
        out_dir,
        CHEST_CT,
        n_series=CT_SERIES,
        per_series=CT_INSTANCES_PER_SERIES,
        rows=CT_MATRIX,
        columns=CT_MATRIX,
    )
    # The report is built from the CT files as written, so its evidence is exactly what is on disk.
    sr = build_report(CHEST_CT, [dcmread(path, stop_before_pixels=True) for path in ct_paths])
    report_path = out_dir / CHEST_CT.folder / REPORT_FOLDER / REPORT_FILE
    report_path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(report_path, sr, enforce_file_format=True)
    return sorted([*ct_paths, report_path])
