"""The FHIR form of a MADO manifest (mado.md §3-§6): an R4 document Bundle and its R4 MHD DocumentReferences.

IHE MADO 1.0.0 is FHIR 4.0.1 and no R5 MADO manifest exists, so this module builds ``fhir.resources.R4B`` models
(R4B shares every element used here with R4) from the same ``ManifestPlan`` the KOS writer takes: the two forms
cannot disagree. Everything comes from the plan (no clock, no random UUID): series are ordered by Series Number
then UID and instances by Instance Number then UID, as in the KOS, so the same plan gives the same bytes.

Bundle entries have ``urn:uuid:`` fullUrls whose UUIDs are name-based (``resource_id(type, plan SOP UID, key)``);
the resource ids are the same UUIDs and every reference inside the Bundle is a fullUrl.

Choices the specification leaves open:

* every dateTime carries a UTC offset: the value's own, else the plan's Timezone Offset From UTC; a date without a
  time stays a date (Bundle.timestamp, an instant, takes midnight);
* one WADO Endpoint per distinct retrieve site; a series without a retrieve site gets the "http://notspecified"
  Endpoint with data-absent-reason on ``address``; a site without a Retrieve Location UID has no
  retrieve-location-uid extension (R4 extensions cannot carry a data-absent-reason on their value; the plan
  already has a finding for it);
* only one accession fits ``ImagingStudy.basedOn`` and ``context.related[accession-number]``: the first request's;
  every request has its ServiceRequest (mado.md §4);
* ``procedureCode`` (mado-reqproc-1): the plan's procedure codes with the requested procedure (else study)
  description as text, or that description alone when there are no codes; codes without display and no description
  get their code values as text;
* identifier systems of accession numbers follow the R5 report (``issuer_system``), so the report and the manifest
  carry the same accession identifiers; the patient identifier system is ``urn:oid:<patient issuer OID>`` when
  the plan has one, else the R5 patient rule;
* ``instance.title`` is the Key Object Description of a shared KOS (table D), nothing for other instances;
  number-of-frames is written for instances with more than one frame (the KOS writer's rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fhir.resources.R4B.attachment import Attachment
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.composition import Composition, CompositionEvent, CompositionSection
from fhir.resources.R4B.device import Device, DeviceVersion
from fhir.resources.R4B.documentreference import (
    DocumentReference,
    DocumentReferenceContent,
    DocumentReferenceContext,
    DocumentReferenceRelatesTo,
)
from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.fhirprimitiveextension import FHIRPrimitiveExtension
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.imagingstudy import ImagingStudy, ImagingStudySeries, ImagingStudySeriesInstance
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.narrative import Narrative
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest

from bridge.fhir import constants as c
from bridge.fhir.access import (
    EXT_RETRIEVE_LOCATION_UID,
    FACILITY_HOSPITAL,
    FHIR_MANIFEST_FORMAT,
    KOS_FORMAT,
    MADO,
    MADO_BUNDLE_PROFILE,
    NOT_SPECIFIED,
    PAYLOAD_NONE,
    PRACTICE_RADIOLOGY,
    WADO_RS,
)
from bridge.fhir.datatypes import issuer_system, universal_id_system
from bridge.fhir.ids import resource_id
from bridge.model import Code, DicomDateTime, Order, PersonName
from bridge.model.manifest import ManifestPlan, RequestedProcedure, RetrieveSite, ordered_instances, ordered_series
from bridge.model.study import Instance, Issuer, Series
from bridge.settings import FhirSettings

SD = MADO + "StructureDefinition/"
PROFILE_BUNDLE = MADO_BUNDLE_PROFILE
PROFILE_COMPOSITION = SD + "MadoComposition"
PROFILE_IMAGING_STUDY = SD + "MadoImagingStudy"
PROFILE_WADO_ENDPOINT = SD + "MadoWadoEndpoint"
PROFILE_WEB_VIEWER_ENDPOINT = SD + "MadoWebViewerEndpoint"
PROFILE_PATIENT = SD + "MadoPatient"
PROFILE_CREATOR = SD + "MadoCreator"
PROFILE_CREATOR_ORGANIZATION = SD + "MadoCreatorOrganization"
PROFILE_REQUESTED_PROCEDURE = SD + "MadoRequestedProcedure"
PROFILE_FHIR_DOCUMENT_REFERENCE = SD + "MadoFhirDocumentReference"
PROFILE_KOS_DOCUMENT_REFERENCE = SD + "MadoDicomKosDocumentReference"

EXT_ANATOMICAL_REGION = SD + "MadoAnatomicalRegionExtension"
EXT_NUMBER_OF_FRAMES = SD + "MadoNumberOfFrames"
EXT_KO_DOCUMENT_TITLE = SD + "MadoKeyObjectDocumentTitle"
EXT_DOCREF_MODALITY = SD + "ext-R5-DocumentReference.modality"
EXT_DOCREF_BODY_SITE = SD + "ext-R5-DocumentReference.bodySite"
EXT_CONTENT_PROFILE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DocumentReference.content.profile"

# the display of MadoEndpointConnectionTypes (the R5 helper in bridge.fhir.access has a shorter one)
WEB_VIEWER = Code(MADO + "CodeSystem/MadoEndpointConnectionTypes", "web-viewer", "DICOM web viewer for the study")
MADO_CREATOR = Code(MADO + "CodeSystem/MadoDeviceType", "mado-creator", "MADO Creator")
PLACER_TYPE = Code(c.V2_0203, "PLAC", "Placer Identifier")
WADO_PAYLOAD_TEXT = "DICOM WADO-RS"
DICOM_MIME = "application/dicom"
FHIR_JSON = "application/fhir+json"
TRANSFORMS = "transforms"
FORMS = ("kos", "fhir")

_GENDER = {"M": "male", "F": "female", "O": "other"}
_XHTML_NS = "http://www.w3.org/1999/xhtml"


# -- the Bundle ----------------------------------------------------------------------------------------------------


def build_manifest_bundle(plan: ManifestPlan, settings: FhirSettings) -> Bundle:
    """The MadoFhirBundle of ``plan`` (mado.md §3, §6): a document Bundle whose first entry is the Composition."""
    return _Builder(plan, settings).bundle()


def manifest_bundle_json(bundle: Bundle) -> bytes:
    """The Bundle as the JSON bytes to publish (``application/fhir+json``, FHIR 4.0.1)."""
    return bundle.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


def manifest_identifier(plan: ManifestPlan) -> Identifier:
    """Bundle.identifier = Composition.identifier = DocumentReference.masterIdentifier: the KOS SOP Instance UID."""
    return Identifier(system=c.URN_RFC3986, value=f"urn:oid:{plan.sop_instance_uid}")


def entry_id(plan: ManifestPlan, resource_type: str, *key: str) -> str:
    """The id of a Bundle entry's resource; its fullUrl is ``urn:uuid:<id>``."""
    return resource_id(resource_type, plan.sop_instance_uid, *key)


class _Builder:
    """One Bundle: the ids of every entry are fixed first, so references can be made in any order."""

    def __init__(self, plan: ManifestPlan, settings: FhirSettings) -> None:
        self.plan = plan
        self.settings = settings
        self.series = ordered_series(plan.study.series)
        self.sites: dict[RetrieveSite, str] = {}  # distinct retrieve sites, in order of first use -> Endpoint id
        for s in self.series:
            site = plan.retrieve.get(s.series_instance_uid, RetrieveSite())
            self.sites.setdefault(site, entry_id(plan, "Endpoint", *_site_key(site)))
        self.viewer_id = entry_id(plan, "Endpoint", "web-viewer", plan.display_uri) if plan.display_uri else None
        self.composition_id = entry_id(plan, "Composition", "manifest")
        self.study_id = entry_id(plan, "ImagingStudy", plan.study.study_instance_uid)
        self.patient_id = entry_id(plan, "Patient", "patient")
        self.device_id = entry_id(plan, "Device", "creator")
        self.organization_id = entry_id(plan, "Organization", "creator")
        self.request_ids = [entry_id(plan, "ServiceRequest", r.accession_number, r.placer_order_number or "")
                            for r in plan.requests]

    def bundle(self) -> Bundle:
        resources: list[Resource] = [self.composition(), self.imaging_study()]
        resources.extend(self.wado_endpoint(site, endpoint_id) for site, endpoint_id in self.sites.items())
        if self.viewer_id is not None and self.plan.display_uri:
            resources.append(self.viewer_endpoint(self.plan.display_uri, self.viewer_id))
        resources.append(self.patient())
        resources.extend(self.service_request(r, i) for r, i in zip(self.plan.requests, self.request_ids, strict=True))
        resources.extend((self.device(), self.organization()))
        return Bundle(
            id=resource_id("Bundle", self.plan.sop_instance_uid),
            meta=Meta(profile=[PROFILE_BUNDLE]),
            identifier=manifest_identifier(self.plan),
            type="document",
            timestamp=_instant(self.plan.created, self.plan),
            entry=[BundleEntry(fullUrl=_full_url(r.id or ""), resource=r) for r in resources],
        )

    # -- Composition ------------------------------------------------------------------------------------------

    def composition(self) -> Composition:
        return Composition(
            id=self.composition_id,
            meta=Meta(profile=[PROFILE_COMPOSITION]),
            text=_narrative(self.summary()),
            identifier=manifest_identifier(self.plan),
            status="final",
            type=_concept(c.DEFAULT_REPORT_TYPE),
            category=[_concept(c.MEDICAL_IMAGING)],
            subject=_ref(self.patient_id),
            date=_datetime(self.plan.created, self.plan),
            author=[_ref(self.device_id), _ref(self.organization_id)],
            title=manifest_title(self.plan),
            event=[CompositionEvent(detail=[_ref(self.study_id)])],
            section=[CompositionSection(
                title=_series_title(s),
                text=_narrative(_series_table(s, self.plan)),
            ) for s in self.series] or None,
        )

    def summary(self) -> str:
        study = self.plan.study
        rows = [
            ("Study Instance UID", study.study_instance_uid),
            ("Study", study.study_description),
            ("Started", _datetime(study.started, self.plan) if study.started else None),
            ("Accession", ", ".join(r.accession_number for r in self.plan.requests) or None),
            ("Series", str(len(self.series))),
            ("Instances", str(study.number_of_instances)),
        ]
        items = "".join(
            f"<li>{escape(_series_title(s))}: {len(s.instances)} instance{'s' if len(s.instances) != 1 else ''}</li>"
            for s in self.series)
        return (f"<p>{escape(manifest_title(self.plan))}</p>{_table(rows)}"
                + (f"<ul>{items}</ul>" if items else ""))

    # -- ImagingStudy -----------------------------------------------------------------------------------------

    def imaging_study(self) -> ImagingStudy:
        plan, study = self.plan, self.plan.study
        regions = [Extension(url=EXT_ANATOMICAL_REGION, valueCodeableConcept=_concept(r))
                   for r in plan.target_regions]
        based_on = None
        if plan.requests:
            based_on = [Reference(reference=_full_url(self.request_ids[0]), type="ServiceRequest",
                                  identifier=accession_identifier(plan.requests[0], self.settings))]
        procedure = procedure_code(plan)
        return ImagingStudy(
            id=self.study_id,
            meta=Meta(profile=[PROFILE_IMAGING_STUDY]),
            extension=regions or None,
            identifier=[study_instance_uid_identifier(study.study_instance_uid)],
            status="available",
            modality=[_coding(Code(c.DCM, m)) for m in study.modalities] or None,
            subject=_ref(self.patient_id),
            started=_datetime(study.started, plan) if study.started else None,
            basedOn=based_on,
            endpoint=[_ref(self.viewer_id)] if self.viewer_id else None,
            numberOfSeries=len(self.series),
            numberOfInstances=study.number_of_instances,
            procedureCode=[procedure] if procedure is not None else None,
            description=study.study_description,
            series=[self.imaging_series(s) for s in self.series] or None,
        )

    def imaging_series(self, series: Series) -> ImagingStudySeries:
        site = self.plan.retrieve.get(series.series_instance_uid, RetrieveSite())
        instances = ordered_instances(series.instances)
        return ImagingStudySeries(
            uid=series.series_instance_uid,
            number=series.series_number,
            modality=_coding(Code(c.DCM, series.modality)),
            description=series.series_description,
            numberOfInstances=len(instances),
            endpoint=[_ref(self.sites[site])],
            bodySite=_coding(series.body_site) if series.body_site else None,
            laterality=_coding(series.laterality) if series.laterality else None,
            started=_datetime(series.started, self.plan) if series.started else None,
            instance=[self.imaging_instance(i) for i in instances] or None,
        )

    def imaging_instance(self, instance: Instance) -> ImagingStudySeriesInstance:
        extensions = []
        if instance.number_of_frames is not None and instance.number_of_frames > 1:
            extensions.append(Extension(url=EXT_NUMBER_OF_FRAMES, valueInteger=instance.number_of_frames))
        key_object = self.plan.key_objects.get(instance.sop_instance_uid)
        if key_object is not None:
            extensions.append(Extension(url=EXT_KO_DOCUMENT_TITLE, valueCodeableConcept=_concept(key_object.title)))
        return ImagingStudySeriesInstance(
            extension=extensions or None,
            uid=instance.sop_instance_uid,
            sopClass=Coding(system=c.URN_RFC3986, code=f"urn:oid:{instance.sop_class_uid}"),
            number=instance.instance_number,
            title=key_object.description if key_object is not None else None,
        )

    # -- Endpoints --------------------------------------------------------------------------------------------

    def wado_endpoint(self, site: RetrieveSite, endpoint_id: str) -> Endpoint:
        """MadoWadoEndpoint; an unknown WADO-RS base is "http://notspecified" with data-absent-reason."""
        extensions = ([Extension(url=EXT_RETRIEVE_LOCATION_UID, valueString=site.retrieve_location_uid)]
                      if site.retrieve_location_uid else None)
        return Endpoint(
            id=endpoint_id,
            meta=Meta(profile=[PROFILE_WADO_ENDPOINT]),
            extension=extensions,
            status="active",
            connectionType=_coding(WADO_RS),
            name=f"DICOM WADO-RS {site.retrieve_ae_title}" if site.retrieve_ae_title else None,
            payloadType=[_concept(PAYLOAD_NONE, text=WADO_PAYLOAD_TEXT)],
            address=site.wado_rs_base_url or NOT_SPECIFIED,
            address__ext=None if site.wado_rs_base_url else _data_absent("unknown"),
        )

    def viewer_endpoint(self, display_uri: str, endpoint_id: str) -> Endpoint:
        """MadoWebViewerEndpoint: the fully populated launch URL (the KOS Display URI)."""
        return Endpoint(
            id=endpoint_id,
            meta=Meta(profile=[PROFILE_WEB_VIEWER_ENDPOINT]),
            status="active",
            connectionType=_coding(WEB_VIEWER),
            payloadType=[_concept(PAYLOAD_NONE)],
            payloadMimeType=["text/html"],
            address=display_uri,
        )

    # -- Patient, requests, creator ---------------------------------------------------------------------------

    def patient(self) -> Patient:
        patient = self.plan.study.patient
        identifier = None
        if patient.patient_id:
            identifier = [Identifier(system=self.patient_system(), value=patient.patient_id)]
        return Patient(
            id=self.patient_id,
            meta=Meta(profile=[PROFILE_PATIENT]),
            identifier=identifier,
            name=[_human_name(patient.name)],
            gender=_GENDER.get((patient.sex or "").upper(), "unknown"),
            birthDate=patient.birth_date,
            birthDate__ext=None if patient.birth_date else _data_absent("unknown"),
        )

    def patient_system(self) -> str | None:
        """urn:oid:<issuer OID> when the plan has one, else the R5 patient rule (bridge.fhir.patient)."""
        if self.plan.patient_issuer_oid:
            return f"urn:oid:{self.plan.patient_issuer_oid}"
        issuer = self.plan.study.patient.issuer
        if issuer is None:
            return None
        if issuer.universal_id:
            return universal_id_system(issuer.universal_id, issuer.universal_id_type)
        if issuer.local_id:
            return self.settings.patient_id_systems.get(
                issuer.local_id, f"{self.settings.base_url}/sid/patient-id/{issuer.local_id}")
        return None

    def service_request(self, request: RequestedProcedure, request_id: str) -> ServiceRequest:
        """MadoRequestedProcedure: accession (ACSN + DCM 121022) and placer (PLAC) identifiers, the procedure."""
        identifiers = [accession_identifier(request, self.settings)]
        if request.placer_order_number:
            identifiers.append(Identifier(
                type=_concept(PLACER_TYPE),
                system=self.placer_system(request.placer_issuer),
                value=request.placer_order_number,
            ))
        code = None
        if request.procedure_codes or request.description:
            code = _concept(*request.procedure_codes, text=request.description)
        return ServiceRequest(
            id=request_id,
            meta=Meta(profile=[PROFILE_REQUESTED_PROCEDURE]),
            identifier=identifiers,
            status="completed",
            intent="order",
            code=code,
            subject=_ref(self.patient_id),
        )

    def placer_system(self, issuer: Issuer | None) -> str | None:
        if issuer is not None and issuer.universal_id:
            return universal_id_system(issuer.universal_id, issuer.universal_id_type)
        if issuer is not None and issuer.local_id:
            return f"{self.settings.base_url}/sid/placer-order/{issuer.local_id}"
        return None

    def device(self) -> Device:
        creator = self.plan.creator
        return Device(
            id=self.device_id,
            meta=Meta(profile=[PROFILE_CREATOR]),
            type=_concept(MADO_CREATOR),
            manufacturer=creator.manufacturer,
            version=[DeviceVersion(value=creator.software_version)] if creator.software_version else None,
            owner=_ref(self.organization_id),
        )

    def organization(self) -> Organization:
        creator = self.plan.creator
        identifier = ([Identifier(system=c.URN_RFC3986, value=f"urn:oid:{creator.institution_oid}")]
                      if creator.institution_oid else None)
        return Organization(
            id=self.organization_id,
            meta=Meta(profile=[PROFILE_CREATOR_ORGANIZATION]),
            identifier=identifier,
            name=creator.institution_name,
        )


def manifest_title(plan: ManifestPlan) -> str:
    """Composition.title: "Imaging manifest – <Study Description>" (or the Study Instance UID)."""
    study = plan.study
    return f"Imaging manifest – {study.study_description or study.study_instance_uid}"


def study_instance_uid_identifier(study_instance_uid: str) -> Identifier:
    """MadoStudyInstanceUidIdentifier: ``urn:dicom:uid`` / ``urn:oid:<uid>`` / DCM 110180."""
    return Identifier(type=_concept(c.DCM_STUDY_INSTANCE_UID_TYPE), system=c.URN_DICOM_UID,
                      value=f"urn:oid:{study_instance_uid}")


def accession_identifier(request: RequestedProcedure, settings: FhirSettings) -> Identifier:
    """MadoAccessionNumberIdentifier: types ACSN + DCM 121022, system from the issuer as in the R5 report."""
    return Identifier(
        type=_concept(c.ACSN_TYPE, c.DCM_ACCESSION_TYPE),
        system=issuer_system(Order(request.accession_number, request.issuer), settings),
        value=request.accession_number,
    )


def procedure_code(plan: ManifestPlan) -> CodeableConcept | None:
    """ImagingStudy.procedureCode with a text or a display (mado-reqproc-1), or None when nothing is known."""
    description = next((r.description for r in plan.requests if r.description), None) or plan.study.study_description
    codes = plan.procedure_codes
    if not codes:
        return CodeableConcept(text=description) if description else None
    text = description
    if text is None and not all(code.display for code in codes):
        text = ", ".join(code.display or code.code for code in codes)
    return _concept(*codes, text=text)


# -- the DocumentReferences ----------------------------------------------------------------------------------------


def document_reference_id(plan: ManifestPlan, form: str) -> str:
    """The id of the R4 DocumentReference of the manifest form ``"kos"`` or ``"fhir"``."""
    if form not in FORMS:
        raise ValueError(f"unknown manifest form {form!r} (expected one of {FORMS})")
    return resource_id("DocumentReference", plan.sop_instance_uid, form)


def manifest_document_references(
    plan: ManifestPlan,
    settings: FhirSettings,
    kos_url: str | None,
    bundle_url: str | None,
    patient_reference: str,
) -> tuple[DocumentReference, ...]:
    """The R4 MHD envelopes (mado.md §5): MadoDicomKosDocumentReference when ``kos_url`` is given,
    MadoFhirDocumentReference when ``bundle_url`` is given; when both, each ``transforms`` the other.

    ``patient_reference`` is the literal reference of the subject on the MHD server (e.g. ``Patient/123``).
    """
    urls = {form: url for form, url in zip(FORMS, (kos_url, bundle_url), strict=True) if url is not None}
    return tuple(_document_reference(plan, settings, form, url, [f for f in urls if f != form], patient_reference)
                 for form, url in urls.items())


def _document_reference(plan: ManifestPlan, settings: FhirSettings, form: str, url: str, others: Sequence[str],
                        patient_reference: str) -> DocumentReference:
    kos = form == "kos"
    study = plan.study
    created = _instant(plan.created, plan)
    extensions = [Extension(url=EXT_DOCREF_MODALITY, valueCodeableConcept=_concept(Code(c.DCM, m)))
                  for m in study.modalities]
    extensions += [Extension(url=EXT_DOCREF_BODY_SITE, valueCodeableConcept=_concept(r))
                   for r in plan.target_regions]
    related = [Reference(type="ImagingStudy", identifier=study_instance_uid_identifier(study.study_instance_uid))]
    if plan.requests:
        related.append(Reference(type="ServiceRequest", identifier=accession_identifier(plan.requests[0], settings)))
    content_extensions = None if kos else [
        Extension(url=EXT_CONTENT_PROFILE, extension=[Extension(url="value", valueCanonical=MADO_BUNDLE_PROFILE)])]
    return DocumentReference(
        id=document_reference_id(plan, form),
        meta=Meta(profile=[PROFILE_KOS_DOCUMENT_REFERENCE if kos else PROFILE_FHIR_DOCUMENT_REFERENCE]),
        extension=extensions or None,
        masterIdentifier=manifest_identifier(plan),
        identifier=[manifest_identifier(plan)],
        status="current",
        type=_concept(c.DEFAULT_REPORT_TYPE),
        category=[_concept(c.MEDICAL_IMAGING)],
        subject=Reference(reference=patient_reference),
        date=created,
        description=("DICOM KOS" if kos else "FHIR") + f" imaging manifest of study {study.study_instance_uid}",
        relatesTo=[DocumentReferenceRelatesTo(
            code=TRANSFORMS,
            target=Reference(reference=f"DocumentReference/{document_reference_id(plan, other)}"),
        ) for other in others] or None,
        content=[DocumentReferenceContent(
            extension=content_extensions,
            attachment=Attachment(
                contentType=DICOM_MIME if kos else FHIR_JSON,
                language=plan.language,
                url=url,
                title="DICOM KOS manifest" if kos else "FHIR manifest (IHE MADO 1.0.0, FHIR 4.0.1)",
                creation=created,
            ),
            format=_coding(KOS_FORMAT if kos else FHIR_MANIFEST_FORMAT),
        )],
        context=DocumentReferenceContext(
            period=Period(start=_datetime(study.started, plan)) if study.started else None,
            facilityType=_concept(FACILITY_HOSPITAL),
            practiceSetting=_concept(PRACTICE_RADIOLOGY),
            related=related,
        ),
    )


# -- values --------------------------------------------------------------------------------------------------------




def _site_key(site: RetrieveSite) -> tuple[str, ...]:
    return ("wado-rs", site.wado_rs_base_url or "", site.retrieve_location_uid or "", site.retrieve_ae_title or "")


def _offset(plan: ManifestPlan) -> str:
    """The plan's Timezone Offset From UTC ("+HHMM") as a FHIR offset ("+HH:MM")."""
    value = plan.timezone_offset
    if len(value) == 5 and value[0] in "+-":
        return f"{value[:3]}:{value[3:]}"
    return value


def _datetime(value: DicomDateTime, plan: ManifestPlan) -> str:
    """A FHIR dateTime: a date as it is, a date-time with its own offset or else the plan's."""
    if not value.has_time:
        return value.iso
    return value.iso + (value.utc_offset or _offset(plan))


def _instant(value: DicomDateTime, plan: ManifestPlan) -> str:
    """A FHIR instant (time and offset required); a date is taken at midnight."""
    full = value if value.has_time else DicomDateTime(value.iso + "T00:00:00", value.utc_offset)
    return _datetime(full, plan)


def _full_url(resource_id_: str) -> str:
    return f"urn:uuid:{resource_id_}"


def _ref(resource_id_: str) -> Reference:
    return Reference(reference=_full_url(resource_id_))


def _coding(code: Code) -> Coding:
    return Coding(system=code.system, code=code.code, display=code.display)


def _concept(*codes: Code, text: str | None = None) -> CodeableConcept:
    return CodeableConcept(coding=[_coding(code) for code in codes] or None, text=text)


def _data_absent(reason: str) -> FHIRPrimitiveExtension:
    return FHIRPrimitiveExtension(extension=[Extension(url=c.EXT_DATA_ABSENT_REASON, valueCode=reason)])


def _human_name(name: PersonName | None) -> HumanName:
    """HumanName from a DICOM PN; an absent name gets data-absent-reason (EU eu-pat-1)."""
    if name is None or name.is_empty:
        return HumanName(extension=[Extension(url=c.EXT_DATA_ABSENT_REASON, valueCode="unknown")])
    return HumanName(
        text=name.text,
        family=name.family,
        given=list(name.given) or None,
        prefix=list(name.prefix) or None,
        suffix=list(name.suffix) or None,
    )


def _narrative(body: str) -> Narrative:
    """A generated Narrative whose div wraps ``body`` (already escaped XHTML)."""
    return Narrative(status="generated", div=f'<div xmlns="{_XHTML_NS}">{body}</div>')


def _table(rows: Sequence[tuple[str, str | None]]) -> str:
    cells = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in rows if value)
    return f"<table>{cells}</table>" if cells else ""


def _series_title(series: Series) -> str:
    number = f"Series {series.series_number}" if series.series_number is not None else "Series"
    parts = [number, series.modality, series.series_description]
    return " – ".join(p for p in parts if p)


def _series_table(series: Series, plan: ManifestPlan) -> str:
    site = plan.retrieve.get(series.series_instance_uid, RetrieveSite())
    return _table([
        ("Series Instance UID", series.series_instance_uid),
        ("Modality", series.modality),
        ("Description", series.series_description),
        ("Started", _datetime(series.started, plan) if series.started else None),
        ("Body site", (series.body_site.display or series.body_site.code) if series.body_site else None),
        ("Instances", str(len(series.instances))),
        ("WADO-RS base", site.wado_rs_base_url),
        ("Retrieve Location UID", site.retrieve_location_uid),
    ])


__all__ = [
    "build_manifest_bundle",
    "document_reference_id",
    "manifest_bundle_json",
    "manifest_document_references",
    "manifest_identifier",
]
