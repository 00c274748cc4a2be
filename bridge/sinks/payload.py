"""A study revision's delivery payload: what every FHIR server sink sends, written durably before the seal.

The payload holds the resources to upsert (Patient, ImagingStudy, what they reference, and every resource of
the report documents) and the report documents themselves. Each sink turns it into its own requests (PUT by
id or conditional update), so one payload serves every configured server.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from bridge.pipeline import StudyOutput

from bridge.sinks.files import study_folder, write_bytes


def payload_of(output: StudyOutput) -> dict[str, Any]:
    """``{"resources": [...], "documents": [...]}``: each resource once (by type and id), documents whole."""
    resources: dict[tuple[str, str], dict[str, Any]] = {}

    def add(data: dict[str, Any]) -> None:
        resources.setdefault((data["resourceType"], data["id"]), data)

    for resource in (output.patient, output.imaging_study, *output.supporting):
        add(resource.model_dump(mode="json", by_alias=True, exclude_none=True))
    documents = [r.bundle.model_dump(mode="json", by_alias=True, exclude_none=True) for r in output.reports]
    for document in documents:  # each document is dumped once; its entries are the resources to upsert
        for entry in document.get("entry", ()):
            if "resource" in entry:
                add(entry["resource"])
    return {
        "study_instance_uid": output.study_instance_uid,
        "resources": list(resources.values()),
        "documents": documents,
    }


def write_payload(outbox: Path, output: StudyOutput, revision: int) -> Path:
    """Write the payload of ``revision`` under ``outbox/<study>/`` durably (fsync, rename, directory fsync)."""
    folder = study_folder(outbox, output.study_instance_uid)
    folder.mkdir(parents=True, exist_ok=True)
    return write_bytes(folder / f"revision-{revision}.json", orjson.dumps(payload_of(output)), durable=True)


def read_payload(path: str | Path) -> dict[str, Any]:
    with open(path, "rb") as fp:
        data: dict[str, Any] = orjson.loads(fp.read())
    return data
