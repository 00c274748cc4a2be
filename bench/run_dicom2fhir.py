"""dicom2fhir row: PyPI `dicom2fhir` (0.1.25) converting a folder, in its own venv.

    bench/.venv-dicom2fhir/bin/python bench/run_dicom2fhir.py DIR OUT_DIR

dicom2fhir has no CLI. Its async `from_directory(dir, config)` reads every file (dcmread with
stop_before_pixels, then `Dataset.to_json_dict()`), builds Patient, Device, ImagingStudy (and vital-sign
Observations) with fhir.resources' R4B models and returns a transaction Bundle, which this writes to
OUT_DIR/bundle.json. `add_instances` is on so the ImagingStudy lists every instance, as the bridge's does.
Prints one JSON line with the counts.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from dicom2fhir.dicom2fhir import from_directory

CONFIG = {
    "dicom_timezone": "Europe/Berlin",
    "generator": {"imaging_study": {"add_instances": True}},
}


async def convert(src: Path, out_dir: Path) -> dict[str, int]:
    bundle = await from_directory(str(src), config=dict(CONFIG))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bundle.json").write_text(bundle.model_dump_json())
    return {"entries": len(bundle.entry or [])}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(convert(Path(sys.argv[1]), Path(sys.argv[2])))))
