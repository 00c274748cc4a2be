"""Organization, Device, Practitioner and PractitionerRole: who and what took part."""

from __future__ import annotations

from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.device import Device, DeviceName, DeviceVersion
from fhir.resources.meta import Meta
from fhir.resources.organization import Organization
from fhir.resources.practitioner import Practitioner
from fhir.resources.practitionerrole import PractitionerRole

from bridge.fhir import constants as c
from bridge.fhir.datatypes import concept, reference
from bridge.fhir.ids import resource_id
from bridge.fhir.patient import human_name
from bridge.model import Code, Equipment, PersonName


def build_organization(name: str) -> Organization:
    """organization-eu-core, identified by its name (DICOM gives no organization identifier)."""
    return Organization(
        id=resource_id("Organization", name),
        meta=Meta(profile=[c.PROFILE_ORGANIZATION]),
        name=name,
    )


def equipment_key(equipment: Equipment) -> tuple[str, ...]:
    return (
        equipment.manufacturer or "",
        equipment.model_name or "",
        equipment.device_serial_number or "",
        equipment.station_name or "",
    )


def has_device(equipment: Equipment) -> bool:
    return any(equipment_key(equipment))


def build_device(equipment: Equipment, modality: str) -> Device:
    """DeviceEuImaging from the General Equipment module (guide §2.10, §8 DicomToDeviceEuImaging)."""
    # R5 device-nametype has no model name: the model goes to modelNumber, the station to a friendly name.
    names = [DeviceName(value=equipment.station_name, type="user-friendly-name")] if equipment.station_name else []
    versions = [DeviceVersion(value=v) for v in equipment.software_versions] or None
    return Device(
        id=resource_id("Device", *equipment_key(equipment)),
        meta=Meta(profile=[c.PROFILE_DEVICE]),
        status="active",
        category=[concept(c.SCT_IMAGING_DEVICE)],
        type=[concept(Code(c.DCM, modality), text=modality)],
        manufacturer=equipment.manufacturer,
        modelNumber=equipment.model_name,
        serialNumber=equipment.device_serial_number,
        name=names or None,
        version=versions,
    )


def practitioner_key(name: PersonName) -> str:
    return "^".join([name.family or "", " ".join(name.given), " ".join(name.prefix), " ".join(name.suffix)])


def build_practitioner(name: PersonName) -> Practitioner:
    """practitioner-eu-core from a DICOM person name; DICOM carries no practitioner identifier here."""
    return Practitioner(
        id=resource_id("Practitioner", practitioner_key(name)),
        meta=Meta(profile=[c.PROFILE_PRACTITIONER]),
        name=[human_name(name)],
    )


def build_practitioner_role(
    practitioner: Practitioner, organization: Organization | None, role: str | None
) -> PractitionerRole:
    """practitionerRole-eu-core tying a practitioner to the organization the report came from."""
    assert practitioner.id is not None
    return PractitionerRole(
        id=resource_id("PractitionerRole", practitioner.id, organization.id if organization else "", role or ""),
        meta=Meta(profile=[c.PROFILE_PRACTITIONER_ROLE]),
        practitioner=reference("Practitioner", practitioner.id),
        organization=reference("Organization", organization.id) if organization and organization.id else None,
        code=[CodeableConcept(text=role)] if role else None,
    )
