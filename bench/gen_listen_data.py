"""Generate (or reuse) the listener benchmark's workloads.

Run with the repository's Python (it needs pydicom; numpy for `huge`; pydicom-data for `large`):

    .venv/bin/python bench/gen_listen_data.py OUT_ROOT small large huge [--no-install]

Each workload goes to OUT_ROOT/<name>/dicom/ with a manifest at OUT_ROOT/<name>/manifest.json; the path of
every manifest is printed, one a line. A manifest carries a cache key (generator sources, template file,
every parameter); a later call with the same key reuses the files instead of writing them again.

Workloads, each one study with fresh, deterministic UIDs:
  small  2,000 × ~39 KB CT instances (20 series × 100) from pydicom's `CT_small.dcm` (a real GE CT header),
         written by gen_study.py's template writer (new study/series/instance UIDs, numbers, slice positions);
  large  300 × ~526 KB CT instances (3 series × 100) from pydicom-data's `693_UNCR.dcm` (512², 16-bit), the
         same way. pydicom-data is pip-installed into this Python's environment when missing (a bench setup
         step, not a project dependency); if that fails, a 512×512 16-bit CT made from CT_small's header
         stands in and the manifest says so;
  huge   one Enhanced CT instance of 1,000 frames of 512×512 16-bit (524 MB of pixel data, uncompressed,
         explicit VR little endian). The header is written by pydicom, then the Pixel Data element is
         appended by hand one frame at a time, so the file is never held in memory.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gen_study import _write_from_template

MANIFEST_VERSION = 1
WORKLOADS = ("small", "large", "huge")
PYDICOM_DATA = "pydicom-data==1.0.0"
HUGE_FRAMES, HUGE_SIDE = 1000, 512
BENCH = Path(__file__).resolve().parent


def _sha256_of_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _testdata(name: str) -> Path | None:
    from pydicom.data import get_testdata_file

    try:
        found = get_testdata_file(name)
    except Exception:  # pydicom may try a download when the file is not in a local source
        return None
    return Path(found) if found else None


def _install_pydicom_data() -> str | None:
    """pip install pydicom-data into this interpreter's environment; return why it failed, or None."""
    print(f"gen_listen_data: installing {PYDICOM_DATA} …", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYDICOM_DATA]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
        return errors[-1] if errors else f"pip exited {proc.returncode}"
    return None


def _strip_group_lengths(ds) -> None:
    """Drop (gggg,0000) Group Length elements outside the meta: they go stale once values change."""
    for tag in [t for t in ds.keys() if t.element == 0 and t.group != 2]:
        del ds[tag]


# --------------------------------------------------------------------------- small and large


def _ct_template(name: str) -> tuple[object, Path]:
    from pydicom import dcmread

    path = _testdata(name)
    if path is None:
        raise SystemExit(f"gen_listen_data: test file {name} not found")
    ds = dcmread(path)
    _strip_group_lengths(ds)
    return ds, path


def _large_template(install: bool) -> tuple[object, Path, str]:
    """693_UNCR.dcm with a realistic study header, or a 512×512 stand-in made from CT_small.dcm."""
    path = _testdata("693_UNCR.dcm")
    if path is None and install:
        problem = _install_pydicom_data()
        path = None if problem else _testdata("693_UNCR.dcm")
        if problem:
            print(f"gen_listen_data: {PYDICOM_DATA}: {problem}", file=sys.stderr)
    if path is not None:
        ds, path = _ct_template("693_UNCR.dcm")
        ds.StudyDate = ds.ContentDate = ds.InstanceCreationDate = "20251104"
        ds.StudyTime = ds.ContentTime = ds.InstanceCreationTime = "101500"
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        ds.ManufacturerModelName = "LightSpeed VCT"
        ds.InstitutionName = "Bench General Hospital"
        return ds, path, "pydicom-data 693_UNCR.dcm"
    import numpy as np

    ds, path = _ct_template("CT_small.dcm")
    ds.Rows = ds.Columns = 512
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    ramp = (np.arange(512 * 512, dtype=np.int32) % 4096).astype("<i2")
    ds.PixelData = ramp.tobytes()
    ds["PixelData"].VR = "OW"
    return ds, path, "512×512 16-bit stand-in from CT_small.dcm (pydicom-data unavailable)"


# --------------------------------------------------------------------------- huge


def _write_huge(out_dir: Path, seed: str) -> list[Path]:
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.filewriter import dcmwrite
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    enhanced_ct = "1.2.840.10008.5.1.4.1.1.2.1"

    def uid(*parts: object) -> str:
        return generate_uid(entropy_srcs=["/".join(map(str, (seed, *parts)))])

    def item(**values: object) -> Dataset:
        ds = Dataset()
        for key, value in values.items():
            setattr(ds, key, value)
        return ds

    sop_uid = uid("instance", 1)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = enhanced_ct
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate = ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20251104"
    ds.InstanceCreationTime = ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    ds.AcquisitionDateTime = "20251104101500"
    ds.SOPClassUID = enhanced_ct
    ds.SOPInstanceUID = sop_uid
    ds.AccessionNumber = "ACCHUGE0001"
    ds.Modality = "CT"
    ds.Manufacturer = "Bench Scanners"
    ds.ManufacturerModelName = "Multiframe 1000"
    ds.InstitutionName = "Bench General Hospital"
    ds.ReferringPhysicianName = "Referrer^Rita^^Dr."
    ds.StudyDescription = "CT CHEST ABDOMEN PELVIS ENHANCED"
    ds.SeriesDescription = "Axial 0.625 mm enhanced multi-frame"
    ds.PatientName = "Bench^Huge"
    ds.PatientID = "BENCH-HUGE-0001"
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "M"
    ds.PatientAge = "065Y"
    ds.BodyPartExamined = "CHEST"
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series", 1)
    ds.FrameOfReferenceUID = uid("for", 1)
    ds.PositionReferenceIndicator = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.AcquisitionNumber = 1
    ds.ContentQualification = "PRODUCT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.PresentationLUTShape = "IDENTITY"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = HUGE_FRAMES
    ds.Rows = ds.Columns = HUGE_SIDE
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SharedFunctionalGroupsSequence = [
        item(
            PixelMeasuresSequence=[item(PixelSpacing=[0.7, 0.7], SliceThickness=0.625)],
            PlaneOrientationSequence=[item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])],
            PixelValueTransformationSequence=[item(RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU")],
            FrameVOILUTSequence=[item(WindowCenter=40, WindowWidth=400)],
        )
    ]
    ds.PerFrameFunctionalGroupsSequence = [
        item(
            FrameContentSequence=[item(FrameAcquisitionNumber=1, InStackPositionNumber=n, StackID="1")],
            PlanePositionSequence=[item(ImagePositionPatient=[-179.2, -179.2, -0.625 * n])],
        )
        for n in range(1, HUGE_FRAMES + 1)
    ]

    frame_bytes = HUGE_SIDE * HUGE_SIDE * 2
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "enhanced-ct-1000-frames.dcm"
    base = (np.arange(HUGE_SIDE * HUGE_SIDE, dtype=np.uint32) * 7) % 4096
    with open(path, "wb") as f:
        dcmwrite(f, ds, enforce_file_format=True)
        # (7FE0,0010) OW, explicit VR little endian: tag, VR, 2 reserved bytes, 4-byte length
        f.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, HUGE_FRAMES * frame_bytes))
        for n in range(HUGE_FRAMES):
            f.write(((base + 13 * n) % 4096).astype("<u2").tobytes())
    return [path]


# --------------------------------------------------------------------------- cache + main


def _plan(name: str, install: bool) -> tuple[dict[str, object], Callable[[Path], list[Path]], str]:
    """(cache key, writer, description of the source) for one workload."""
    sources = [Path(__file__), BENCH / "gen_study.py"]
    seed = f"listen-{name}"
    key: dict[str, object] = {"manifest_version": MANIFEST_VERSION, "workload": name, "seed": seed}
    if name == "small":
        template, path = _ct_template("CT_small.dcm")
        key |= {"n_series": 20, "per_series": 100, "template": path.name}
        describe = "pydicom CT_small.dcm"
    elif name == "large":
        template, path, describe = _large_template(install)
        key |= {"n_series": 3, "per_series": 100, "template": path.name, "template_source": describe}
    elif name == "huge":
        key |= {"frames": HUGE_FRAMES, "side": HUGE_SIDE}
        key["generator_sha256"] = _sha256_of_files(sources)
        return key, lambda out: _write_huge(out, seed), "Enhanced CT, 1000 frames 512×512 16-bit"
    else:
        raise SystemExit(f"unknown workload {name!r}")
    key["generator_sha256"] = _sha256_of_files([*sources, path])

    def write(out: Path) -> list[Path]:
        return _write_from_template(
            copy.deepcopy(template),
            out,
            int(key["n_series"]),
            int(key["per_series"]),
            seed,  # type: ignore[arg-type]
        )

    return key, write, describe


def ensure_workload(root: Path, name: str, install: bool = True) -> Path:
    key, write, describe = _plan(name, install)
    out = root / name
    manifest_path = out / "manifest.json"
    if _cached(manifest_path, key):
        print(f"gen_listen_data: reusing {out}", file=sys.stderr)
        return manifest_path
    dicom_dir = out / "dicom"
    shutil.rmtree(out, ignore_errors=True)
    dicom_dir.mkdir(parents=True)
    print(f"gen_listen_data: writing workload {name} ({describe}) …", file=sys.stderr)
    paths = write(dicom_dir)
    sizes = [p.stat().st_size for p in paths]
    manifest = {
        "key": key,
        "workload": name,
        "source": describe,
        "dicom_dir": "dicom",
        "transfer_syntax": _transfer_syntax(paths[0]),
        "n_files": len(paths),
        "bytes_total": sum(sizes),
        "mean_bytes": round(sum(sizes) / len(sizes)),
        "files": {str(p.relative_to(dicom_dir)): size for p, size in zip(paths, sizes, strict=True)},
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest_path


def _transfer_syntax(path: Path) -> str:
    from pydicom import dcmread

    return str(dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)


def _cached(manifest_path: Path, key: dict[str, object]) -> bool:
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("key") != key:
        return False
    dicom_dir = manifest_path.parent / manifest["dicom_dir"]
    try:
        return all((dicom_dir / rel).stat().st_size == size for rel, size in manifest["files"].items())
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("workloads", nargs="+", choices=WORKLOADS)
    parser.add_argument("--no-install", action="store_true", help="do not pip-install pydicom-data when missing")
    args = parser.parse_args(argv)
    for name in args.workloads:
        print(ensure_workload(args.root, name, install=not args.no_install))
    return 0


if __name__ == "__main__":
    sys.exit(main())
