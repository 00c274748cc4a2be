"""ServiceRequestOrderEuImaging and ProcedureEuImaging from the study headers, and where the report places them.

Guide §2.8 (order), §2.9 (performed procedure), §2.18 (links by accession number), §4.1: the ServiceRequest goes
into section[order], the Procedure into section[procedure] and DiagnosticReport.extension[procedure]
(HL7IDRImagingProcedure). People and devices the Procedure names are PractitionerRoles (performer slice) and
DeviceEuImaging (imaging-device slice). What DICOM does not give is left out, never made up.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.codeablereference import CodeableReference
from fhir.resources.device import Device
from fhir.resources.identifier import Identifier
from fhir.resources.meta import Meta
from fhir.resources.organization import Organization
from fhir.resources.practitioner import Practitioner
from fhir.resources.practitionerrole import PractitionerRole
from fhir.resources.procedure import Procedure, ProcedurePerformer
from fhir.resources.reference import Reference
from fhir.resources.resource import Resource
from fhir.resources.servicerequest import ServiceRequest

from bridge.fhir import constants as c
from bridge.fhir.content import Placement
from bridge.fhir.datatypes import accession_identifier, concept, fhir_datetime, issuer_system, reference
from bridge.fhir.ids import resource_id
from bridge.fhir.participants import (
    build_device,
    build_organization,
    build_practitioner,
    build_practitioner_role,
    has_device,
)
from bridge.model import Code, EuSection, ObjectKind, Order, PerformedProcedure, PersonName, Series, Study
from bridge.settings import FhirSettings

PROFILE_SERVICE_REQUEST = c.IG + "ServiceRequestOrderEuImaging"
PROFILE_PROCEDURE = c.IG + "ProcedureEuImaging"
# ServiceRequestOrderEuImaging.category[imaging] (guide §2.8)
SCT_IMAGING = Code(c.SNOMED, "363679005", "Imaging")
# ProcedureEuImaging.performer[performer].function (guide §2.9); [imaging-device] uses c.SCT_IMAGING_DEVICE
SCT_HEALTHCARE_PROFESSIONAL = Code(c.SNOMED, "223366009", "Healthcare professional")
PERFORMING_PHYSICIAN = "Performing physician"  # Performing Physician's Name (0008,1050)
OPERATOR = "Operator"  # Operators' Name (0008,1070)


def service_request_id(order: Order, settings: FhirSettings) -> str:
    """The ServiceRequest's id: its accession number within the issuer's namespace."""
    return resource_id("ServiceRequest", issuer_system(order, settings), order.accession_number)


def service_request_reference(order: Order, settings: FhirSettings) -> Reference:
    """A literal reference to the ServiceRequest that also carries the accession identifier (guide §2.18)."""
    return Reference(
        reference=f"ServiceRequest/{service_request_id(order, settings)}",
        type="ServiceRequest",
        identifier=accession_identifier(order, settings),
    )


def build_service_request(study: Study, patient_id: str, settings: FhirSettings) -> ServiceRequest | None:
    """ServiceRequestOrderEuImaging from the accession number and the request attributes; None without an order.

    code <- Requested Procedure Code Sequence (0032,1064) with Requested Procedure Description (0032,1060) as
    text; reason <- Reason for Requested Procedure Code Sequence (0040,100A) with (0040,1002) as text;
    requester <- Requesting Physician (0032,1032) as a Practitioner.
    """
    order = study.order
    if order is None:
        return None
    identifiers = [accession_identifier(order, settings)]
    if order.requested_procedure_id:  # (0040,1001): the filler's id of the requested procedure, no namespace
        identifiers.append(
            Identifier(value=order.requested_procedure_id, type=CodeableConcept(text="Requested Procedure ID"))
        )
    code = _concept(order.requested_procedure_codes, order.requested_procedure_description)
    reason = _concept(order.reason_codes, order.reason_text)
    requester = build_practitioner(order.requesting_physician) if order.requesting_physician else None
    return ServiceRequest(
        id=service_request_id(order, settings),
        meta=Meta(profile=[PROFILE_SERVICE_REQUEST]),
        identifier=identifiers,
        # R5 request-status: images in the study mean the requested acquisition has been fully performed
        # ("completed"). A study received without images (a report only) does not tell whether work is
        # still pending; "active" would claim it is, so the honest value is "unknown".
        status="completed" if _has_images(study) else "unknown",
        intent="order",
        category=[concept(SCT_IMAGING)],
        code=CodeableReference(concept=code) if code is not None else None,
        subject=reference("Patient", patient_id),
        requester=reference("Practitioner", requester.id) if requester is not None and requester.id else None,
        reason=[CodeableReference(concept=reason)] if reason is not None else None,
    )


def build_procedure(
    study: Study,
    patient_id: str,
    imaging_study_id: str,
    device_ids: Sequence[str],
    settings: FhirSettings,
) -> Procedure | None:
    """ProcedureEuImaging from the performed procedure step, or None when there is nothing worth a Procedure.

    A Procedure is built when a start (PPS start, else study start) and a code or description (procedure or
    protocol codes, PPS description, else study description) are known: the guide makes code 1..1, and an
    undated procedure says nothing the ImagingStudy does not. Performers: performing physicians and operators
    as PractitionerRoles (slice performer), ``device_ids`` as Devices (slice imaging-device).
    """
    performed = study.performed_procedure or PerformedProcedure()
    started = performed.started or study.started
    code = _procedure_code(study, performed)
    if started is None or code is None:
        return None
    occurrence, occurrence_ext = fhir_datetime(started, settings)
    performers = [
        ProcedurePerformer(
            function=concept(SCT_HEALTHCARE_PROFESSIONAL, text=role.code[0].text if role.code else None),
            actor=reference("PractitionerRole", role.id or ""),
        )
        for _, role in _people(study)
    ]
    performers += [
        ProcedurePerformer(function=concept(c.SCT_IMAGING_DEVICE), actor=reference("Device", device_id))
        for device_id in device_ids
    ]
    step_id = performed.step_id
    return Procedure(
        id=resource_id("Procedure", imaging_study_id, step_id or ""),
        meta=Meta(profile=[PROFILE_PROCEDURE]),
        identifier=[Identifier(value=step_id, type=CodeableConcept(text="Performed Procedure Step ID"))]
        if step_id
        else None,
        basedOn=[service_request_reference(study.order, settings)] if study.order else None,
        status="completed",
        code=code,
        subject=reference("Patient", patient_id),
        occurrenceDateTime=occurrence,
        occurrenceDateTime__ext=occurrence_ext,
        performer=performers or None,
    )


def header_placement(study: Study, patient_id: str, imaging_study_id: str, settings: FhirSettings) -> Placement:
    """The order and the performed procedure of ``study`` with the people and devices they reference.

    entries: section[order] -> the ServiceRequest, section[procedure] -> the Procedure; idr: the Procedure as
    HL7IDRImagingProcedure; narrative: one line per section. A resource is listed once, in reference order.
    """
    placement = Placement()
    service_request = build_service_request(study, patient_id, settings)
    if service_request is not None and study.order is not None:
        order = study.order
        placement.resources.append(service_request)
        if order.requesting_physician is not None:
            placement.resources.append(build_practitioner(order.requesting_physician))
        placement.add_entry(EuSection.ORDER, service_request_reference(order, settings))
        placement.add_narrative(EuSection.ORDER, _order_line(order))
    devices = _devices(study)
    procedure = build_procedure(study, patient_id, imaging_study_id, [d.id or "" for d in devices], settings)
    if procedure is not None and procedure.id is not None:
        people = _people(study)
        placement.resources.append(procedure)
        for practitioner, role in people:
            placement.resources += [role, practitioner]
        organization = _organization(study)
        if people and organization is not None:
            placement.resources.append(organization)
        placement.resources += devices
        ref = reference("Procedure", procedure.id)
        placement.add_entry(EuSection.PROCEDURE, ref)
        placement.idr.append((c.EXT_IDR_IMAGING_PROCEDURE, ref))
        placement.add_narrative(EuSection.PROCEDURE, _procedure_line(study, procedure, devices, settings))
    placement.resources = _once(placement.resources)
    return placement


def _concept(codes: tuple[Code, ...], text: str | None) -> CodeableConcept | None:
    return concept(*codes, text=text) if codes or text else None


def _procedure_code(study: Study, performed: PerformedProcedure) -> CodeableConcept | None:
    """Procedure codes, else the performed protocol codes; the PPS description, else the study's, as text."""
    codes = performed.procedure_codes or performed.protocol_codes
    return _concept(codes, performed.description or study.study_description)


def _has_images(study: Study) -> bool:
    return any(i.kind is ObjectKind.IMAGE for s in study.series for i in s.instances)


def _image_series(study: Study) -> list[Series]:
    """Series holding images: their equipment acquired the study (an SR's is the reporting software)."""
    return [s for s in study.series if any(i.kind is ObjectKind.IMAGE for i in s.instances)]


def _organization(study: Study) -> Organization | None:
    """The institution (0008,0080) of the acquiring series, else of any series."""
    names = [s.equipment.institution_name for s in [*_image_series(study), *study.series]]
    name = next((n for n in names if n), None)
    return build_organization(name) if name else None


def _people(study: Study) -> list[tuple[Practitioner, PractitionerRole]]:
    """Performing physicians then operators, each as a Practitioner and a PractitionerRole at the institution."""
    performed = study.performed_procedure
    if performed is None:
        return []
    organization = _organization(study)
    people = []
    for names, role in ((performed.performing_physicians, PERFORMING_PHYSICIAN), (performed.operators, OPERATOR)):
        for name in names:
            practitioner = build_practitioner(name)
            people.append((practitioner, build_practitioner_role(practitioner, organization, role)))
    return people


def _devices(study: Study) -> list[Device]:
    """The acquiring devices (equipment of the image series), each once, in series order."""
    devices: dict[str, Device] = {}
    for series in _image_series(study):
        if has_device(series.equipment):
            device = build_device(series.equipment, series.modality)
            devices.setdefault(device.id or "", device)
    return list(devices.values())


def _once(resources: list[Resource]) -> list[Resource]:
    seen: dict[tuple[str, str | None], Resource] = {}
    for resource in resources:
        seen.setdefault((resource.get_resource_type(), resource.id), resource)
    return list(seen.values())


def _name(name: PersonName) -> str:
    return name.text or name.family or " ".join(name.given)


def _code_text(value: CodeableConcept | None) -> str | None:
    if value is None:
        return None
    return value.text or ", ".join(cd.display or cd.code or "" for cd in value.coding or []) or None


def _order_line(order: Order) -> str:
    """'Requested: CT Chest (accession A123, requested procedure RP1); reason: ...; requested by ...'."""
    what = _code_text(_concept(order.requested_procedure_codes, order.requested_procedure_description))
    ids = [f"accession {order.accession_number}"]
    if order.requested_procedure_id:
        ids.append(f"requested procedure {order.requested_procedure_id}")
    parts = [f"Requested: {what or 'imaging procedure'} ({', '.join(ids)})"]
    reason = _code_text(_concept(order.reason_codes, order.reason_text))
    if reason:
        parts.append(f"reason: {reason}")
    if order.requesting_physician is not None:
        parts.append(f"requested by {_name(order.requesting_physician)}")
    return "; ".join(parts)


def _procedure_line(study: Study, procedure: Procedure, devices: list[Device], settings: FhirSettings) -> str:
    """'Performed: CT Chest on <start> by <operators> (step PPS1); device: ...'."""
    line = f"Performed: {_code_text(procedure.code)}"
    performed = study.performed_procedure or PerformedProcedure()
    started = performed.started or study.started
    if started is not None:
        line += f" on {fhir_datetime(started, settings)[0]}"
    people = [f"{_name(n)} ({PERFORMING_PHYSICIAN.lower()})" for n in performed.performing_physicians]
    people += [f"{_name(n)} ({OPERATOR.lower()})" for n in performed.operators]
    if people:
        line += f" by {', '.join(people)}"
    if procedure.identifier:
        line += f" (procedure step {procedure.identifier[0].value})"
    labels = [
        " ".join(v for v in (d.manufacturer, d.modelNumber, *(n.value for n in d.name or [])) if v) for d in devices
    ]
    if any(labels):
        line += f"; device: {', '.join(label for label in labels if label)}"
    return line
