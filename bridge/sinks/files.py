"""The file sink: one folder per study, one JSON file per resource or report Bundle, written atomically.

Layout under the output folder::

    <StudyInstanceUID>/
        ImagingStudy.json            ImagingStudyEuImaging
        Patient.json                 patient-eu-core
        <Type>-<id>.json             Organizations, Devices, Practitioners the ImagingStudy references
        report-<SOPInstanceUID>.json BundleReportEuImaging (or the minimal-metadata collection), one per report
        DocumentReference-<id>.json  DocumentReferenceImagingReport (R5) of each report Bundle
        manifest.dcm                 the MADO KOS manifest (PS3.10)
        manifest-fhir.json           the MADO FHIR manifest, an R4 document Bundle (IHE MADO 1.0.0)
        manifest-DocumentReference-kos.json, manifest-DocumentReference-fhir.json
                                     their MHD envelopes (R4), related by ``transforms``
        index.json                   what was written last: the revision, and each file's resource
                                     type, id and SHA-256 (written last, so it never names a missing file;
                                     no clock: converting the same files twice gives the same bytes)

A new revision of a study rewrites its folder in place: each file is replaced atomically, then the index.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhir.resources.resource import Resource

    from bridge.pipeline import StudyOutput


_MAX_UID_LENGTH = 64  # PS3.5 9.1


@dataclass(frozen=True, slots=True)
class WrittenStudy:
    """The files written for one study."""

    study_instance_uid: str
    folder: Path
    imaging_study: Path
    patient: Path
    supporting: tuple[Path, ...]
    reports: tuple[Path, ...]
    document_references: tuple[Path, ...] = ()
    manifest: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.imaging_study, self.patient, *self.supporting, *self.reports, *self.document_references,
                *self.manifest)


def write_study(out_dir: Path, output: StudyOutput, revision: int | None = None) -> WrittenStudy:
    """Write every resource of ``output`` under ``out_dir/<StudyInstanceUID>/``; rewriting replaces files.

    ``index.json`` lists what was written (with ``revision`` when the service gives one) and is written last.
    """
    folder = study_folder(out_dir, output.study_instance_uid)
    folder.mkdir(parents=True, exist_ok=True)
    supporting = tuple(
        write_json(folder / f"{r.get_resource_type()}-{r.id}.json", r) for r in output.supporting
    )
    reports = tuple(
        write_json(folder / f"report-{_safe_name(r.report.sop_instance_uid)}.json", r.bundle) for r in output.reports
    )
    envelopes = [r.document_reference for r in output.reports if r.document_reference is not None]
    document_references = tuple(write_json(folder / f"DocumentReference-{d.id}.json", d) for d in envelopes)
    manifest_files, manifest_entries = _write_manifest(folder, output)
    written = WrittenStudy(
        study_instance_uid=output.study_instance_uid,
        folder=folder,
        imaging_study=write_json(folder / "ImagingStudy.json", output.imaging_study),
        patient=write_json(folder / "Patient.json", output.patient),
        supporting=supporting,
        reports=reports,
        document_references=document_references,
        manifest=manifest_files,
    )
    resources = [output.imaging_study, output.patient, *output.supporting, *(r.bundle for r in output.reports),
                 *envelopes]
    paths = [written.imaging_study, written.patient, *supporting, *reports, *document_references]
    entries = [{"name": path.name, "resourceType": resource.get_resource_type(), "id": resource.id}
               for path, resource in zip(paths, resources, strict=True)]
    index = {
        "study_instance_uid": output.study_instance_uid,
        "revision": revision,
        "warnings": [f"{w.message} ({w.where})" if w.where else w.message for w in output.warnings],
        "files": [{**entry, "sha256": hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest()}
                  for entry in (*entries, *manifest_entries)],
    }
    write_bytes(folder / "index.json", json.dumps(index, indent=2).encode("utf-8") + b"\n")
    return written


def _write_manifest(folder: Path, output: StudyOutput) -> tuple[tuple[Path, ...], list[dict[str, str | None]]]:
    """The manifest forms and their R4 envelopes; index entries name the KOS by SOP Instance UID."""
    manifest = output.manifest
    if manifest is None:
        return (), []
    written: list[Path] = []
    entries: list[dict[str, str | None]] = []
    if manifest.kos is not None:
        written.append(write_bytes(folder / "manifest.dcm", manifest.kos))
        entries.append({"name": "manifest.dcm", "mediaType": "application/dicom",
                        "sopInstanceUid": manifest.plan.sop_instance_uid})
    r4: list[tuple[str, Any]] = []
    if manifest.fhir_bundle is not None:
        r4.append(("manifest-fhir.json", manifest.fhir_bundle))
    for envelope in manifest.document_references:
        form = "kos" if "dicom" in str(envelope.content[0].attachment.contentType) else "fhir"  # type: ignore[attr-defined]
        r4.append((f"manifest-DocumentReference-{form}.json", envelope))
    for name, resource in r4:
        written.append(write_json(folder / name, resource))
        entries.append({"name": name, "resourceType": resource.get_resource_type(), "id": resource.id,
                        "fhirVersion": "4.0.1"})
    return tuple(written), entries


def study_folder(out_dir: Path, study_instance_uid: str) -> Path:
    """The folder of a study's files; the UID is made safe, so it can neither leave ``out_dir`` nor be too long."""
    return out_dir / _safe_name(study_instance_uid)


def write_json(path: Path, resource: Resource) -> Path:
    """Write ``resource`` as pretty JSON via a temporary file and a rename, so readers never see half a file."""
    data = resource.model_dump_json(by_alias=True, exclude_none=True, indent=2).encode("utf-8") + b"\n"
    return write_bytes(path, data)


def write_bytes(path: Path, data: bytes, durable: bool = False) -> Path:
    """Write ``data`` at ``path`` via a temporary file and a rename; ``durable``: fsync the file before the
    rename and the folder after it, so the file survives a crash once this returns."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
            if durable:
                fp.flush()
                os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return path


def _safe_name(uid: str) -> str:
    """UIDs are digits and dots; anything else (a malformed UID) is replaced so it cannot leave the folder.

    A name longer than a UID may be (64) is cut and given a digest suffix, so that two long malformed
    values still get different folders and no name exceeds the file system's limit.
    """
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in ".-") else "_" for ch in uid).lstrip(".") or "_"
    if len(name) > _MAX_UID_LENGTH:
        name = f"{name[:_MAX_UID_LENGTH]}-{hashlib.sha256(uid.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
    return name
