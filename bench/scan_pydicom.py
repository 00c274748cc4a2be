"""pydicom-scan row: the floor any Python DICOM-to-FHIR converter stands on.

    .venv/bin/python bench/scan_pydicom.py DIR

Reads every file under DIR with `pydicom.dcmread(path, stop_before_pixels=True)` and touches the four
attributes a converter needs at the very least; prints one JSON line with the counts.
"""

from __future__ import annotations

import json
import os
import sys

from pydicom import dcmread


def scan(root: str) -> dict[str, int]:
    studies: set[str] = set()
    series: set[str] = set()
    instances: set[str] = set()
    modalities: set[str] = set()
    for folder, _dirs, names in os.walk(root):
        for name in names:
            ds = dcmread(os.path.join(folder, name), stop_before_pixels=True)
            studies.add(ds.StudyInstanceUID)
            series.add(ds.SeriesInstanceUID)
            instances.add(ds.SOPInstanceUID)
            modalities.add(ds.Modality)
    return {
        "files": len(instances),
        "studies": len(studies),
        "series": len(series),
        "modalities": len(modalities),
    }


if __name__ == "__main__":
    print(json.dumps(scan(sys.argv[1])))
