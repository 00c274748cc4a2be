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

    manifest = output.manifest
    envelopes = [r.document_reference for r in output.reports if r.document_reference is not None]
    for resource in (output.patient, output.imaging_study, *output.supporting, *envelopes):
        add(resource.model_dump(mode="json", by_alias=True, exclude_none=True))
    documents = [r.bundle.model_dump(mode="json", by_alias=True, exclude_none=True) for r in output.reports]
    for document in documents:  # each document is dumped once; its entries are the resources to upsert
        for entry in document.get("entry", ()):
            if "resource" in entry:
                add(entry["resource"])
    if manifest is not None:  # after the documents: a report's own ServiceRequest wins over the manifest's
        for resource in (*manifest.service_requests, *manifest.binaries, *manifest.document_references_r5):
            add(resource.model_dump(mode="json", by_alias=True, exclude_none=True))
    return {
        "study_instance_uid": output.study_instance_uid,
        "resources": list(resources.values()),
        "documents": documents,
        "supersede": _supersede(output),
    }


def _supersede(output: StudyOutput) -> list[dict[str, Any]]:
    """Searches whose current matches, other than the ones this revision writes, become ``superseded``: the
    manifest DocumentReferences of earlier revisions of the study (mado.md §7 item 19)."""
    manifest = output.manifest
    if manifest is None or not manifest.document_references_r5:
        return []
    return [{
        "resourceType": "DocumentReference",
        "search": f"type=http://loinc.org|18748-4&status=current&event-reference=ImagingStudy/{output.imaging_study.id}",
        "keep": [f"urn:oid:{manifest.plan.sop_instance_uid}"],
    }]


def write_payload(outbox: Path, output: StudyOutput, revision: int) -> Path:
    """Write the payload of ``revision`` under ``outbox/<study>/`` durably (fsync, rename, directory fsync)."""
    folder = study_folder(outbox, output.study_instance_uid)
    folder.mkdir(parents=True, exist_ok=True)
    return write_bytes(folder / f"revision-{revision}.json", orjson.dumps(payload_of(output)), durable=True)


def read_payload(path: str | Path) -> dict[str, Any]:
    with open(path, "rb") as fp:
        data: dict[str, Any] = orjson.loads(fp.read())
    return data
