"""Generate (or reuse) the benchmark CT study.

Run with the repository's Python (it needs pydicom, and `bridge.samples` when that exists):

    .venv/bin/python bench/gen_study.py OUT_DIR --instances 2000 --series 20

Writes the DICOM files under OUT_DIR/dicom/ and a manifest at OUT_DIR/manifest.json, then prints the
manifest path. With --report (bridge.samples only) the study also gets one TID 2000 report, an Enhanced SR
written by `bridge.samples.report.build_report` whose evidence lists every CT instance of the study, at
OUT_DIR/dicom/ct-<seed>/report/SR0001.dcm (bench/latency_bench.py needs a report so that a report Bundle is
built and delivered). The manifest carries a cache key (generator, its source hash and every parameter); a
later call with the same key reuses the files instead of writing them again.

Generators, in order of preference:
  * `bridge.samples.write_ct_study` (the project's own), with rows/columns picked so that each file
    lands near --target-bytes;
  * the fallback below: pydicom's `CT_small.dcm` (128x128, 39 KB, a real GE CT header) copied with
    fresh study/series/instance UIDs, numbers and slice positions (what bench-baselines.md used).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WriteFn = Callable[[Path, int, int, str], list[Path]]
ReportFn = Callable[[Path, list[Path], str], Path]  # (dicom dir, CT paths, seed) -> the report file written
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Generator:
    name: str
    source_sha256: str
    write: WriteFn
    rows: int | None = None
    columns: int | None = None
    write_report: ReportFn | None = None  # None: this generator cannot write a report


def _sha256_of_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- bridge.samples


def _bridge_generator(target_bytes: int) -> Generator | None:
    repo_root = str(Path(__file__).resolve().parent.parent)
    if repo_root not in sys.path:
        sys.path.append(repo_root)  # the working tree, when the package is not installed in the venv
    try:
        import bridge.samples as samples
        from bridge.samples import write_ct_study

        side = _side_for_target(write_ct_study, target_bytes)
    except Exception as exc:  # absent, or a work in progress that does not import or run yet
        print(f"gen_study: bridge.samples unusable ({type(exc).__name__}: {exc}); using the fallback", file=sys.stderr)
        return None
    source_sha = _sha256_of_files(list(Path(samples.__file__).parent.rglob("*.py")))

    def write(out_dir: Path, n_series: int, per_series: int, seed: str) -> list[Path]:
        return list(
            write_ct_study(out_dir, n_series=n_series, per_series=per_series, seed=seed, rows=side, columns=side)
        )

    return Generator(
        "bridge.samples.write_ct_study", source_sha, write, rows=side, columns=side, write_report=_report_writer()
    )


def _report_writer() -> ReportFn | None:
    """The TID 2000 report of a bench study (bridge.samples.report), or None when that does not import."""
    try:
        from bridge.samples.ct import bench_study
        from bridge.samples.report import build_report
    except Exception as exc:  # absent or a work in progress: only --report needs it
        print(f"gen_study: bridge.samples.report unusable ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None

    def write_report(dicom_dir: Path, ct_paths: list[Path], seed: str) -> Path:
        from pydicom import dcmread, dcmwrite

        study = bench_study(seed)  # the StudySpec write_ct_study used for this seed: same UIDs and order
        evidence = [dcmread(path, stop_before_pixels=True) for path in ct_paths]  # every CT instance
        report = build_report(study, evidence)
        path = dicom_dir / study.folder / "report" / "SR0001.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        dcmwrite(path, report, enforce_file_format=True)
        return path

    return write_report


def _side_for_target(write_ct_study: Callable[..., list[Path]], target_bytes: int) -> int:
    """Square image side that makes one file about target_bytes: calibrate on two tiny files."""
    sizes = {}
    with tempfile.TemporaryDirectory(prefix="bench-calib-") as tmp:
        for side in (16, 32):
            [path] = write_ct_study(
                Path(tmp) / str(side), n_series=1, per_series=1, seed="calibrate", rows=side, columns=side
            )
            sizes[side] = Path(path).stat().st_size
    bytes_per_pixel = max((sizes[32] - sizes[16]) / (32 * 32 - 16 * 16), 1.0)
    header = sizes[16] - bytes_per_pixel * 16 * 16
    pixels = max(target_bytes - header, 16 * 16 * bytes_per_pixel)
    return max(16, round(math.sqrt(pixels / bytes_per_pixel)))


# --------------------------------------------------------------------------- fallback


def _fallback_generator() -> Generator:
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    template_path = get_testdata_file("CT_small.dcm")
    if template_path is None:
        raise SystemExit("pydicom test file CT_small.dcm not found")
    source_sha = _sha256_of_files([Path(__file__), Path(template_path)])

    def write(out_dir: Path, n_series: int, per_series: int, seed: str) -> list[Path]:
        return _write_from_template(dcmread(template_path), out_dir, n_series, per_series, seed)

    return Generator("bench/gen_study.py (CT_small.dcm template)", source_sha, write)


def _write_from_template(template, out_dir: Path, n_series: int, per_series: int, seed: str) -> list[Path]:
    from pydicom.uid import generate_uid

    def uid(*parts: object) -> str:
        return generate_uid(entropy_srcs=["/".join(map(str, (seed, *parts)))])  # pydicom joins srcs with ""

    ds = copy.deepcopy(template)
    digits = hashlib.sha256(seed.encode()).hexdigest()
    ds.StudyInstanceUID = uid("study")
    ds.AccessionNumber = f"ACC{int(digits[:8], 16) % 10**8:08d}"
    ds.StudyID = "1"
    ds.StudyDescription = "CT CHEST ABDOMEN PELVIS WITH CONTRAST"
    ds.ReferringPhysicianName = "Referrer^Rita^^Dr."
    ds.PatientName = "Bench^Patient"
    ds.PatientID = f"BENCH-{digits[:10].upper()}"
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "F"
    ds.PatientAge = "064Y"
    ds.BodyPartExamined = "CHEST"

    paths: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for series in range(1, n_series + 1):
        ds.SeriesInstanceUID = uid("series", series)
        ds.FrameOfReferenceUID = uid("for", series)
        ds.SeriesNumber = series
        ds.SeriesDescription = f"Axial {5 if series % 2 else 1.25} mm series {series}"
        for number in range(1, per_series + 1):
            sop_uid = uid("instance", series, number)
            ds.SOPInstanceUID = sop_uid
            ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
            ds.InstanceNumber = number
            z = -5.0 * number
            ds.ImagePositionPatient = [*template.ImagePositionPatient[:2], z]
            ds.SliceLocation = z
            path = out_dir / f"ct-s{series:03d}-i{number:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


# --------------------------------------------------------------------------- cache + main


def pick_generator(target_bytes: int, force_fallback: bool) -> Generator:
    bridge = None if force_fallback else _bridge_generator(target_bytes)
    return bridge or _fallback_generator()


def ensure_study(
    out: Path,
    *,
    instances: int,
    n_series: int,
    seed: str,
    target_bytes: int,
    force_fallback: bool = False,
    report: bool = False,
) -> Path:
    if instances % n_series:
        raise SystemExit(f"--instances {instances} is not a multiple of --series {n_series}")
    per_series = instances // n_series
    generator = pick_generator(target_bytes, force_fallback)
    if report and generator.write_report is None:
        raise SystemExit(f"--report needs bridge.samples' report writer; the generator is {generator.name}")
    key = {
        "manifest_version": MANIFEST_VERSION,
        "generator": generator.name,
        "generator_sha256": generator.source_sha256,
        "instances": instances,
        "n_series": n_series,
        "per_series": per_series,
        "seed": seed,
        "target_bytes": target_bytes,
    }
    if report:  # only then: the keys of studies without a report stay what they were
        key["report"] = "TID 2000 Enhanced SR (bridge.samples.report.build_report), evidence: every CT instance"
        key["report_writer_sha256"] = _sha256_of_files([Path(__file__)])
    manifest_path = out / "manifest.json"
    if _cached(manifest_path, key):
        print(f"gen_study: reusing {out}", file=sys.stderr)
        return manifest_path

    dicom_dir = out / "dicom"
    shutil.rmtree(out, ignore_errors=True)
    dicom_dir.mkdir(parents=True)
    print(f"gen_study: writing {instances} instances with {generator.name} …", file=sys.stderr)
    paths = generator.write(dicom_dir, n_series, per_series, seed)
    sizes = [p.stat().st_size for p in paths]
    extra: dict[str, object] = {}
    if report:
        assert generator.write_report is not None
        print(f"gen_study: writing the report SR (evidence: {len(paths)} instances) …", file=sys.stderr)
        report_path = generator.write_report(dicom_dir, [Path(p) for p in paths], seed)
        from pydicom import dcmread

        written = dcmread(report_path, stop_before_pixels=True)
        extra = {
            "study_instance_uid": str(written.StudyInstanceUID),
            "report_file": str(report_path.relative_to(dicom_dir)),
            "report_sop_instance_uid": str(written.SOPInstanceUID),
            "report_bytes": report_path.stat().st_size,
            "mean_bytes_ct": round(sum(sizes) / len(sizes)),
        }
        paths = [*paths, report_path]
        sizes.append(report_path.stat().st_size)
    manifest = {
        "key": key,
        "dicom_dir": "dicom",
        "rows": generator.rows,
        "columns": generator.columns,
        "n_files": len(paths),
        "bytes_total": sum(sizes),
        "mean_bytes": round(sum(sizes) / len(sizes)),
        **extra,
        "files": [str(Path(p).relative_to(dicom_dir)) for p in paths],
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest_path


def _cached(manifest_path: Path, key: dict[str, object]) -> bool:
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("key") != key:
        return False
    dicom_dir = manifest_path.parent / manifest["dicom_dir"]
    return all((dicom_dir / rel).is_file() for rel in manifest["files"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--seed", default="bench")
    parser.add_argument(
        "--target-bytes",
        type=int,
        default=39206,
        help="file size to aim for, bridge.samples only (default: the size of CT_small.dcm)",
    )
    parser.add_argument(
        "--fallback", action="store_true", help="use the CT_small.dcm generator even if bridge.samples exists"
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="also write a TID 2000 report SR listing every instance (bridge.samples only; cached apart)",
    )
    args = parser.parse_args(argv)
    manifest = ensure_study(
        args.out,
        instances=args.instances,
        n_series=args.series,
        seed=args.seed,
        target_bytes=args.target_bytes,
        force_fallback=args.fallback,
        report=args.report,
    )
    print(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
