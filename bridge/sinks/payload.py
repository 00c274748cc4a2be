"""A study revision's delivery payload: what every FHIR server sink sends, written durably before the seal.

The payload holds the resources to upsert (Patient, ImagingStudy, what they reference, and every resource of
the report documents) and the report documents themselves. Each sink turns it into its own requests (PUT by
id or conditional update), so one payload serves every configured server.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from bridge.pipeline import StudyOutput

from bridge.sinks.files import study_folder


def payload_of(output: StudyOutput) -> dict[str, Any]:
    """``{"resources": [...], "documents": [...]}``: each resource once (by type and id), documents whole."""
    resources: dict[tuple[str, str], dict[str, Any]] = {}

    def add(resource: Any) -> None:
        data = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
        resources.setdefault((data["resourceType"], data["id"]), data)

    for resource in (output.patient, output.imaging_study, *output.supporting):
        add(resource)
    documents = []
    for report in output.reports:
        for entry in report.bundle.entry or ():
            if entry.resource is not None:
                add(entry.resource)
        documents.append(report.bundle.model_dump(mode="json", by_alias=True, exclude_none=True))
    return {
        "study_instance_uid": output.study_instance_uid,
        "resources": list(resources.values()),
        "documents": documents,
    }


def write_payload(outbox: Path, output: StudyOutput, revision: int) -> Path:
    """Write the payload of ``revision`` under ``outbox/<study>/`` durably (fsync, rename, directory fsync)."""
    folder = study_folder(outbox, output.study_instance_uid)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"revision-{revision}.json"
    data = orjson.dumps(payload_of(output))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


def read_payload(path: str | Path) -> dict[str, Any]:
    with open(path, "rb") as fp:
        data: dict[str, Any] = orjson.loads(fp.read())
    return data
