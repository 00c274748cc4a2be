"""plan_manifest(): what the manifest of one study revision says, decided once for both of its forms.

The shared set is every received instance except manifests (received ones, and the bridge's own coming back
from the PACS), rejection notes and the instances they rejected. The retrieve side of a series comes from
``[manifest.retrieve]`` (overridden per calling AE), and what is still unset from a received manifest's
evidence item for that series. UIDs are derived from the content, so the
same shared set gives the same manifest and any change gives a new one.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bridge import __version__
from bridge.extract.study import extract_study
from bridge.model import Code, DicomDateTime, Finding, InstanceHeader, KeyObjectClass, Report, Severity, Study
from bridge.model.manifest import (
    KeyObjectDescriptor,
    ManifestCreator,
    ManifestDescription,
    ManifestPlan,
    RequestedProcedure,
    RetrieveSite,
)
from bridge.settings import FhirSettings, ManifestSettings

_NOT_SHARED = (KeyObjectClass.MANIFEST, KeyObjectClass.REJECTION)
_UID_NAMESPACE = uuid.UUID("0b6f3d7e-4a52-5c1e-9f0d-8e2b6a4c1d93")  # of the bridge's manifest UIDs; never change it


def received_manifests(reports: Sequence[Report]) -> tuple[ManifestDescription, ...]:
    """The manifests among a study's report objects, in SOP Instance UID order."""
    found = [r.content.manifest for r in reports if r.content.manifest is not None]
    return tuple(sorted(found, key=lambda m: m.sop_instance_uid))


def plan_manifest(
    study: Study,
    headers: Sequence[InstanceHeader],
    reports: Sequence[Report],
    settings: ManifestSettings,
    fhir: FhirSettings,
    calling_aes: Mapping[str, str] | None = None,
) -> ManifestPlan | None:
    """The manifest of ``study`` (rejected instances already removed), or None when nothing is left to share.

    ``calling_aes`` maps SOP Instance UIDs to the AE title that sent them (the service knows it; a one-shot
    conversion does not), which selects the per-AE retrieve settings.
    """
    excluded = {r.sop_instance_uid for r in reports if r.content.key_object_class in _NOT_SHARED}
    kept = {i.sop_instance_uid for s in study.series for i in s.instances} - excluded
    shared_headers = sorted((h for h in headers if h.instance.sop_instance_uid in kept),
                            key=lambda h: h.instance.sop_instance_uid)
    if not shared_headers:
        return None
    # study-level values from the shared instances only: a received manifest's header says nothing about the study
    shared = extract_study(shared_headers)
    source = f"manifest of {study.study_instance_uid}"
    findings: list[Finding] = []
    manifests = received_manifests(reports)
    retrieve = {
        s.series_instance_uid: _retrieve(s.series_instance_uid, [i.sop_instance_uid for i in s.instances],
                                         settings, calling_aes or {}, manifests)
        for s in shared.series
    }
    for series_uid, site in retrieve.items():
        if not site.retrieve_location_uid:
            findings.append(Finding(source, series_uid, (
                "no Retrieve Location UID for this series (MADO requires one): set [manifest.retrieve] "
                "retrieve_location_uid"), Severity.WARNING))
    if not shared.anatomic_regions:
        findings.append(Finding(source, "Target Region", (
            "no anatomical region could be derived from Body Part Examined or the procedure; MADO requires one"),
            Severity.WARNING))
    created = _created(shared)
    offset = _offset(created, shared, fhir)
    patient_issuer = shared.patient.issuer
    patient_oid = (patient_issuer.universal_id
                   if patient_issuer and patient_issuer.universal_id and patient_issuer.universal_id_type == "ISO"
                   else settings.patient_id_issuer_oid)
    if shared.patient.patient_id and not patient_oid:
        findings.append(Finding(source, "IssuerOfPatientIDQualifiersSequence", (
            "the patient ID has no ISO issuer: set [manifest] patient_id_issuer_oid"), Severity.WARNING))
    requests = _requests(shared_headers)
    digest = _digest(shared, retrieve, requests)
    institution = settings.institution_name or next(
        (s.equipment.institution_name for s in shared.series if s.equipment.institution_name), None)
    return ManifestPlan(
        study=shared,
        sop_instance_uid=derived_uid("manifest", study.study_instance_uid, digest),
        series_instance_uid=manifest_series_uid(shared.study_instance_uid),
        created=created,
        timezone_offset=offset,
        requests=requests,
        retrieve=retrieve,
        creator=ManifestCreator(settings.manufacturer, institution or settings.manufacturer,
                                settings.institution_oid, __version__),
        key_objects=_key_objects(reports, kept),
        display_uri=_display_uri(shared, settings, calling_aes or {}, manifests),
        target_regions=shared.anatomic_regions,
        procedure_codes=_procedure_codes(shared),
        patient_issuer_oid=patient_oid,
        language=settings.language,
        findings=tuple(findings),
    )


def manifest_series_uid(study_instance_uid: str) -> str:
    """The Series Instance UID of the bridge's manifests of a study: the same for every revision."""
    return derived_uid("manifest series", study_instance_uid)


def derived_uid(*key: str) -> str:
    """A UID under 2.25 (PS3.5 B.2: the integer of a UUID), here a name-based UUID of ``key``: the same key
    always gives the same UID, and no organisation root is needed."""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, '|'.join(key)).int}"


def _retrieve(series_uid: str, instance_uids: list[str], settings: ManifestSettings, calling_aes: Mapping[str, str],
              manifests: Sequence[ManifestDescription]) -> RetrieveSite:
    """Configured values (the AE that sent most of the series selects the override), then a received manifest's."""
    senders = Counter(calling_aes[uid] for uid in instance_uids if uid in calling_aes)
    configured = settings.retrieve_for(senders.most_common(1)[0][0] if senders else None)
    received = next((s.retrieve for m in manifests for s in m.series if s.series_instance_uid == series_uid),
                    RetrieveSite())
    return RetrieveSite(
        wado_rs_base_url=configured.wado_rs_base_url or received.wado_rs_base_url,
        retrieve_ae_title=configured.retrieve_ae_title or received.retrieve_ae_title,
        retrieve_location_uid=configured.retrieve_location_uid or received.retrieve_location_uid,
    )


def _display_uri(study: Study, settings: ManifestSettings, calling_aes: Mapping[str, str],
                 manifests: Sequence[ManifestDescription]) -> str | None:
    senders = Counter(calling_aes.values())
    template = settings.retrieve_for(senders.most_common(1)[0][0] if senders else None).viewer_url_template
    if template:
        values = {
            "study_uid": study.study_instance_uid,
            "accession": study.order.accession_number if study.order else "",
            "patient_id": study.patient.patient_id or "",
        }
        return template.format(**{k: quote(v, safe="") for k, v in values.items()})
    return next((m.display_uri for m in manifests if m.display_uri), None)


def _requests(headers: Sequence[InstanceHeader]) -> tuple[RequestedProcedure, ...]:
    """One item per distinct (accession, placer order), in order of first appearance."""
    found: dict[tuple[str, str | None], RequestedProcedure] = {}
    for header in headers:
        order = header.order
        if order is None:
            continue
        key = (order.accession_number, order.placer_order_number)
        found.setdefault(key, RequestedProcedure(
            accession_number=order.accession_number,
            issuer=order.issuer,
            placer_order_number=order.placer_order_number,
            placer_issuer=order.placer_issuer,
            description=order.requested_procedure_description,
            procedure_codes=order.requested_procedure_codes,
            requested_procedure_id=order.requested_procedure_id,
        ))
    return tuple(found.values())


def _key_objects(reports: Sequence[Report], kept: set[str]) -> dict[str, KeyObjectDescriptor]:
    """Title and description of every shared KOS (key image notes and other selections)."""
    found = {}
    for report in reports:
        if report.kind != "key-objects" or report.sop_instance_uid not in kept or report.title is None:
            continue
        description = next((k.description for k in report.content.key_images if k.description), None)
        found[report.sop_instance_uid] = KeyObjectDescriptor(report.title, description)
    return found


def _procedure_codes(study: Study) -> tuple[Code, ...]:
    if study.order and study.order.requested_procedure_codes:
        return study.order.requested_procedure_codes
    if study.performed_procedure and study.performed_procedure.procedure_codes:
        return study.performed_procedure.procedure_codes
    return ()


def _created(study: Study) -> DicomDateTime:
    """The newest date/time the shared set holds: a manifest is as of the data it describes (no clock, so the
    same study always gives the same manifest)."""
    stamps = [d for d in (study.started, *(s.started for s in study.series)) if d is not None]
    if not stamps:
        return DicomDateTime(datetime.now(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S"), "+00:00")
    return max(stamps, key=lambda d: d.iso if d.has_time else d.iso + "T00:00:00")


def _offset(created: DicomDateTime, study: Study, fhir: FhirSettings) -> str:
    """Timezone Offset From UTC of the manifest: the study's own, else the site zone's at ``created``."""
    stated = next((d.utc_offset for d in (study.started, created) if d is not None and d.utc_offset), None)
    if stated is None:
        moment = datetime.fromisoformat(created.iso if created.has_time else created.iso + "T12:00:00")
        offset = moment.replace(tzinfo=ZoneInfo(fhir.site_timezone)).strftime("%z")
        return offset or "+0000"
    return stated.replace(":", "")


def _digest(study: Study, retrieve: Mapping[str, RetrieveSite], requests: Sequence[RequestedProcedure]) -> str:
    """What the manifest describes, hashed: references, series descriptors, retrieve side and requests."""
    h = hashlib.sha256()
    for series in study.series:
        site = retrieve.get(series.series_instance_uid, RetrieveSite())
        h.update(repr((series.series_instance_uid, series.modality, series.series_number, series.series_description,
                       series.started, series.body_site, series.laterality, site)).encode())
        for i in series.instances:
            h.update(repr((i.sop_class_uid, i.sop_instance_uid, i.instance_number, i.number_of_frames)).encode())
    h.update(repr((study.started, study.anatomic_regions, tuple(requests), study.patient)).encode())
    return h.hexdigest()


__all__ = ["derived_uid", "manifest_series_uid", "plan_manifest", "received_manifests"]
