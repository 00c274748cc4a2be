"""How a consumer reaches a study (R5): WADO-RS and viewer Endpoints, and the MHD DocumentReferences of the
report documents and of the manifest.

Endpoints come from the manifest plan (configured retrieve side, else what a received manifest said). The
ImagingStudy points at them (``endpoint`` and ``series.endpoint``), so they travel with it.

DocumentReferences are the MHD envelopes a consumer searches (guide §2.14 and §2.18, mado.md §5). Every one
carries the two link keys: the Study Instance UID (``event`` → the ImagingStudy, with its identifier) and the
accession numbers (``basedOn`` → ServiceRequest, with the accession identifier); R5 has no
``context.related``, which is where the R4 MADO envelope keeps them. The manifest's two forms are published
as Binary resources (the KOS as ``application/dicom``, the R4 FHIR manifest as ``application/fhir+json;
fhirVersion=4.0``: an R5 server cannot hold R4 resources as such) with a DocumentReference each, related by
``transforms``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from fhir.resources.attachment import Attachment
from fhir.resources.binary import Binary
from fhir.resources.codeablereference import CodeableReference
from fhir.resources.documentreference import (
    DocumentReference,
    DocumentReferenceContent,
    DocumentReferenceContentProfile,
    DocumentReferenceRelatesTo,
)
from fhir.resources.endpoint import Endpoint, EndpointPayload
from fhir.resources.extension import Extension
from fhir.resources.identifier import Identifier
from fhir.resources.period import Period
from fhir.resources.reference import Reference
from fhir.resources.servicerequest import ServiceRequest

from bridge.fhir import constants as c
from bridge.fhir.datatypes import (
    accession_identifier,
    coding,
    concept,
    data_absent,
    dicom_uid_identifier,
    fhir_datetime,
    instant,
    reference,
)
from bridge.fhir.ids import resource_id
from bridge.fhir.order import service_request_id
from bridge.model import Code, Order, Study
from bridge.model.manifest import ManifestPlan, RetrieveSite
from bridge.settings import FhirSettings

MADO = "https://profiles.ihe.net/RAD/MADO/"
EXT_RETRIEVE_LOCATION_UID = MADO + "StructureDefinition/MadoRetrieveLocationUIDExtension"
CONNECTION_TYPE = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
PAYLOAD_TYPE = "http://terminology.hl7.org/CodeSystem/endpoint-payload-type"
WADO_RS = Code(CONNECTION_TYPE, "dicom-wado-rs", "DICOM WADO-RS")
WEB_VIEWER = Code(MADO + "CodeSystem/MadoEndpointConnectionTypes", "web-viewer", "Web viewer")
PAYLOAD_NONE = Code(PAYLOAD_TYPE, "none", "None")
NOT_SPECIFIED = "http://notspecified"

KOS_FORMAT = Code("http://dicom.nema.org/resources/ontology/DCMUID", "1.2.840.10008.5.1.4.1.1.88.59",
                  "Key Object Selection Document")
FHIR_MANIFEST_FORMAT = Code("http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
                            "urn:ihe:rad:MADO:fhir-manifest:2026", "MADO FHIR manifest")
MADO_BUNDLE_PROFILE = MADO + "StructureDefinition/MadoFhirBundle"
PROFILE_BUNDLE_MINIMAL = c.IG + "BundleReportMinimalMetadataEuImaging"
FACILITY_HOSPITAL = Code(c.SNOMED, "22232009", "Hospital")
PRACTICE_RADIOLOGY = Code(c.SNOMED, "394914008", "Radiology")
DICOM_MIME = "application/dicom"
FHIR_JSON = "application/fhir+json"
R4_FHIR_JSON = "application/fhir+json; fhirVersion=4.0"


# -- Endpoints ------------------------------------------------------------------------------------------------


def wado_endpoint(site: RetrieveSite) -> Endpoint:
    """MadoWadoEndpoint-style R5 Endpoint of a retrieve site; an unknown base is "http://notspecified"."""
    extensions = ([Extension(url=EXT_RETRIEVE_LOCATION_UID, valueString=site.retrieve_location_uid)]
                  if site.retrieve_location_uid else None)
    return Endpoint(
        id=resource_id("Endpoint", "wado-rs", site.wado_rs_base_url or "", site.retrieve_location_uid or ""),
        extension=extensions,
        identifier=[dicom_uid_identifier(site.retrieve_location_uid)] if site.retrieve_location_uid else None,
        status="active",
        connectionType=[concept(WADO_RS)],
        name=f"DICOM WADO-RS {site.retrieve_ae_title}" if site.retrieve_ae_title else None,
        payload=[EndpointPayload(type=[concept(PAYLOAD_NONE, text="DICOM WADO-RS")], mimeType=[DICOM_MIME])],
        address=site.wado_rs_base_url or NOT_SPECIFIED,
        address__ext=None if site.wado_rs_base_url else data_absent("unknown"),
    )


def viewer_endpoint(display_uri: str) -> Endpoint:
    """MadoWebViewerEndpoint-style R5 Endpoint: the fully populated viewer launch URL of the study."""
    return Endpoint(
        id=resource_id("Endpoint", "web-viewer", display_uri),
        status="active",
        connectionType=[concept(WEB_VIEWER)],
        payload=[EndpointPayload(type=[concept(PAYLOAD_NONE)], mimeType=["text/html"])],
        address=display_uri,
    )


class StudyEndpoints:
    """The Endpoints of a study: one per distinct retrieve site (series level) and the viewer (study level)."""

    def __init__(self, plan: ManifestPlan | None) -> None:
        self.by_series: dict[str, Endpoint] = {}
        self.study_level: list[Endpoint] = []
        distinct: dict[RetrieveSite, Endpoint] = {}
        if plan is None:
            return
        for series_uid, site in plan.retrieve.items():
            if site.wado_rs_base_url or site.retrieve_location_uid:
                self.by_series[series_uid] = distinct.setdefault(site, wado_endpoint(site))
        if plan.display_uri:
            self.study_level.append(viewer_endpoint(plan.display_uri))
        self.study_level.extend(distinct.values())

    @property
    def resources(self) -> list[Endpoint]:
        return list({e.id: e for e in self.study_level}.values())

    def study_references(self) -> list[Reference] | None:
        return [reference("Endpoint", e.id or "") for e in self.study_level] or None

    def series_references(self, series_instance_uid: str) -> list[Reference] | None:
        endpoint = self.by_series.get(series_instance_uid)
        return [reference("Endpoint", endpoint.id or "")] if endpoint is not None else None


# -- DocumentReferences ---------------------------------------------------------------------------------------


def report_document_reference(
    bundle_id: str,
    bundle_identifier: Identifier,
    minimal: bool,
    study: Study,
    orders: Sequence[Order],
    patient_id: str,
    imaging_study_id: str,
    issued: str,
    language: str | None,
    settings: FhirSettings,
) -> DocumentReference:
    """DocumentReferenceImagingReport (guide §2.14, checklist item 15) pointing at one report Bundle;
    ``issued`` is the report's instant (DiagnosticReport.issued)."""
    when = issued
    profile = PROFILE_BUNDLE_MINIMAL if minimal else c.PROFILE_BUNDLE_REPORT
    return DocumentReference(
        id=resource_id("DocumentReference", "report", bundle_id),
        identifier=[bundle_identifier],
        status="current",
        docStatus="final",
        type=concept(c.LOINC_IMAGING_REPORT),
        category=[concept(c.MEDICAL_IMAGING)],
        subject=reference("Patient", patient_id),
        date=when,
        modality=[concept(Code(c.DCM, m)) for m in study.modalities] or None,
        bodySite=[CodeableReference(concept=concept(*study.anatomic_regions))] if study.anatomic_regions else None,
        basedOn=[_order_reference(order, settings) for order in orders] or None,
        event=[_study_event(study, imaging_study_id)],
        content=[DocumentReferenceContent(
            attachment=Attachment(contentType=FHIR_JSON, url=f"Bundle/{bundle_id}", language=language,
                                  creation=when),
            profile=[DocumentReferenceContentProfile(valueCanonical=profile)],
        )],
    )


def manifest_binaries(plan: ManifestPlan, kos: bytes | None, fhir_manifest: bytes | None) -> list[Binary]:
    """The manifest's two forms as Binary resources (what the manifest DocumentReferences point at)."""
    binaries = []
    if kos is not None:
        binaries.append(Binary(id=binary_id(plan, "kos"), contentType=DICOM_MIME,
                               data=base64.b64encode(kos).decode("ascii")))
    if fhir_manifest is not None:
        binaries.append(Binary(id=binary_id(plan, "fhir"), contentType=R4_FHIR_JSON,
                               data=base64.b64encode(fhir_manifest).decode("ascii")))
    return binaries


def binary_id(plan: ManifestPlan, form: str) -> str:
    return resource_id("Binary", "manifest", form, plan.sop_instance_uid)


def manifest_document_reference_id(plan: ManifestPlan, form: str) -> str:
    return resource_id("DocumentReference", "manifest", form, plan.sop_instance_uid)


def manifest_document_references_r5(
    plan: ManifestPlan, forms: Sequence[str], patient_id: str, imaging_study_id: str, settings: FhirSettings
) -> list[DocumentReference]:
    """The R5 envelopes of the manifest forms written (``"kos"``, ``"fhir"``), each ``transforms`` the other."""
    study = plan.study
    created = instant(plan.created, settings)
    started = fhir_datetime(study.started, settings)[0] if study.started else None
    identifier = Identifier(system=c.URN_RFC3986, value=f"urn:oid:{plan.sop_instance_uid}")
    orders = [Order(r.accession_number, r.issuer) for r in plan.requests]
    documents = []
    for form in forms:
        kos = form == "kos"
        others = [f for f in forms if f != form]
        documents.append(DocumentReference(
            id=manifest_document_reference_id(plan, form),
            identifier=[identifier],
            status="current",
            type=concept(c.DEFAULT_REPORT_TYPE),
            category=[concept(c.MEDICAL_IMAGING)],
            subject=reference("Patient", patient_id),
            date=created,
            modality=[concept(Code(c.DCM, m)) for m in study.modalities] or None,
            bodySite=[CodeableReference(concept=concept(*plan.target_regions))] if plan.target_regions else None,
            basedOn=[_order_reference(order, settings) for order in orders] or None,
            event=[_study_event(study, imaging_study_id)],
            period=Period(start=started) if started else None,
            facilityType=concept(FACILITY_HOSPITAL),
            practiceSetting=concept(PRACTICE_RADIOLOGY),
            relatesTo=[DocumentReferenceRelatesTo(
                code=concept(Code("http://hl7.org/fhir/document-relationship-type", "transforms", "Transforms")),
                target=reference("DocumentReference", manifest_document_reference_id(plan, other)),
            ) for other in others] or None,
            content=[DocumentReferenceContent(
                attachment=Attachment(
                    contentType=DICOM_MIME if kos else R4_FHIR_JSON,
                    url=f"Binary/{binary_id(plan, form)}",
                    language=plan.language,
                    creation=created,
                    title="DICOM KOS manifest" if kos else "FHIR manifest (IHE MADO 1.0.0, FHIR 4.0.1)",
                ),
                profile=[DocumentReferenceContentProfile(valueCoding=coding(KOS_FORMAT if kos else
                                                                             FHIR_MANIFEST_FORMAT))]
                + ([] if kos else [DocumentReferenceContentProfile(valueCanonical=MADO_BUNDLE_PROFILE)]),
            )],
        ))
    return documents


def _order_reference(order: Order, settings: FhirSettings) -> Reference:
    """The order by id (searchable: ``based-on=ServiceRequest/<id>``) and by accession identifier."""
    return Reference(reference=f"ServiceRequest/{service_request_id(order, settings)}", type="ServiceRequest",
                     identifier=accession_identifier(order, settings))


def manifest_service_requests(plan: ManifestPlan, patient_id: str, settings: FhirSettings) -> list[ServiceRequest]:
    """A ServiceRequest per accession of the manifest, so that the DocumentReferences' ``basedOn`` resolve (a
    report's own, fuller ServiceRequest has the same id and takes precedence in the delivery)."""
    return [ServiceRequest(
        id=service_request_id(order, settings),
        status="completed",
        intent="order",
        identifier=[accession_identifier(order, settings)],
        subject=reference("Patient", patient_id),
        code=CodeableReference(concept=concept(*r.procedure_codes, text=r.description))
        if r.procedure_codes or r.description else None,
    ) for r in plan.requests for order in (Order(r.accession_number, r.issuer),)]


def _study_event(study: Study, imaging_study_id: str) -> CodeableReference:
    """The study the document is about: a reference to the ImagingStudy that also carries its Study Instance UID."""
    target = Reference(reference=f"ImagingStudy/{imaging_study_id}", type="ImagingStudy",
                       identifier=dicom_uid_identifier(study.study_instance_uid, c.DCM_STUDY_INSTANCE_UID_TYPE))
    return CodeableReference(reference=target)


__all__ = [
    "StudyEndpoints",
    "manifest_binaries",
    "binary_id",
    "manifest_document_references_r5",
    "manifest_service_requests",
    "report_document_reference",
    "viewer_endpoint",
    "wado_endpoint",
]
