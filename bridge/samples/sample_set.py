"""The bundled sample set: the chest CT study and its SR, dose, key image and PDF objects, as in ``sample_dicom/``."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset

from bridge.samples.ct import CHEST_CT, write_study
from bridge.samples.dose import build_dose_report
from bridge.samples.key_images import KEY_IMAGES, build_key_object_selection
from bridge.samples.measurements import ROI_INSTANCE_NUMBER, ROI_SERIES_NUMBER, build_measurement_report
from bridge.samples.pdf import build_encapsulated_pdf
from bridge.samples.report import build_report

CT_SERIES = 2
CT_INSTANCES_PER_SERIES = 10
CT_MATRIX = 16  # rows and columns: keeps the committed set near 100 KB
REPORT_FOLDER = "report"
REPORT_FILE = "SR0001.dcm"
# Folder and file name of each further object of the study, below ct-chest/
MEASUREMENTS_PATH = ("measurements", "SR0001.dcm")
DOSE_PATH = ("dose", "SR0001.dcm")
KEY_IMAGES_PATH = ("key-images", "KO0001.dcm")
PDF_PATH = ("pdf", "DOC0001.dcm")


def write_samples(out_dir: Path) -> list[Path]:
    """Write the bundled samples below ``out_dir/ct-chest/``; return the 25 paths sorted.

    ``series-1/`` and ``series-2/`` hold ten CT instances each (IM0001-IM0010), ``report/SR0001.dcm``
    the TID 2000 report whose evidence lists all twenty, ``measurements/SR0001.dcm`` a TID 1500 measurement
    report, ``dose/SR0001.dcm`` the CT radiation dose SR (TID 10011), ``key-images/KO0001.dcm`` a key image
    note (TID 2010) and ``pdf/DOC0001.dcm`` an encapsulated PDF. The bytes are the same in every run; files
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
    # Every object is built from the CT files as written, so its references are exactly what is on disk.
    ct = [dcmread(path, stop_before_pixels=True) for path in ct_paths]

    def image(series_number: int, instance_number: int) -> Dataset:
        return ct[(series_number - 1) * CT_INSTANCES_PER_SERIES + instance_number - 1]

    study_dir = out_dir / CHEST_CT.folder
    objects = {
        (REPORT_FOLDER, REPORT_FILE): build_report(CHEST_CT, ct),
        MEASUREMENTS_PATH: build_measurement_report(CHEST_CT, image(ROI_SERIES_NUMBER, ROI_INSTANCE_NUMBER)),
        DOSE_PATH: build_dose_report(CHEST_CT, ct[0]),
        KEY_IMAGES_PATH: build_key_object_selection(CHEST_CT, [image(*key) for key in KEY_IMAGES]),
        PDF_PATH: build_encapsulated_pdf(CHEST_CT, ct[0]),
    }
    paths = list(ct_paths)
    for (folder, name), ds in objects.items():
        path = study_dir / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return sorted(paths)
