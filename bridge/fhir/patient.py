"""Patient (patient-eu-core) from the DICOM Patient module."""

from __future__ import annotations

from fhir.resources.extension import Extension
from fhir.resources.humanname import HumanName
from fhir.resources.identifier import Identifier
from fhir.resources.meta import Meta
from fhir.resources.patient import Patient as FhirPatient
from fhir.resources.reference import Reference

from bridge.fhir import constants as c
from bridge.fhir.datatypes import data_absent, universal_id_system
from bridge.fhir.ids import resource_id
from bridge.model import Patient, PersonName
from bridge.settings import FhirSettings

# Patient Sex (0010,0040) defined terms, PS3.3 C.7.1.1 -> AdministrativeGender
_GENDER = {"M": "male", "F": "female", "O": "other"}


def patient_key(patient: Patient, study_instance_uid: str) -> tuple[str, ...]:
    """What identifies the patient: issuer + Patient ID, or the study when DICOM gives no Patient ID."""
    if patient.patient_id:
        issuer = patient.issuer
        namespace = (issuer.universal_id or issuer.local_id or "") if issuer else ""
        return ("patient-id", namespace, patient.patient_id)
    return ("study", study_instance_uid)


def build_patient(patient: Patient, study_instance_uid: str, settings: FhirSettings) -> FhirPatient:
    """Patient with identifier, name, birth date and gender; data-absent-reason where eu-core needs a value."""
    identifiers = [_identifier(patient, settings)] if patient.patient_id else None
    birth_date_ext = None if patient.birth_date else data_absent()
    return FhirPatient(
        id=resource_id("Patient", *patient_key(patient, study_instance_uid)),
        meta=Meta(profile=[c.PROFILE_PATIENT]),
        identifier=identifiers,
        name=[human_name(patient.name)],
        gender=_GENDER.get((patient.sex or "").upper(), "unknown"),
        birthDate=patient.birth_date,
        birthDate__ext=birth_date_ext,
    )


def human_name(name: PersonName | None) -> HumanName:
    """HumanName from a DICOM PN; an absent name gets data-absent-reason (eu-pat-1)."""
    if name is None:
        return HumanName(extension=[Extension(url=c.EXT_DATA_ABSENT_REASON, valueCode="unknown")])
    return HumanName(
        text=name.text,
        family=name.family,
        given=list(name.given) or None,
        prefix=list(name.prefix) or None,
        suffix=list(name.suffix) or None,
    )


def _identifier(patient: Patient, settings: FhirSettings) -> Identifier:
    issuer = patient.issuer
    system: str | None = None
    assigner = None
    if issuer is not None:
        if issuer.universal_id:
            system = universal_id_system(issuer.universal_id, issuer.universal_id_type)
        elif issuer.local_id:
            system = settings.patient_id_systems.get(
                issuer.local_id, f"{settings.base_url}/sid/patient-id/{issuer.local_id}"
            )
        if issuer.local_id:
            assigner = Reference(display=issuer.local_id)
    return Identifier(system=system, value=patient.patient_id, assigner=assigner)
