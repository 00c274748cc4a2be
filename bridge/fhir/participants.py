"""Organization, Device, Practitioner and PractitionerRole: who and what took part."""

from __future__ import annotations

import re

from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.device import Device, DeviceName, DeviceUdiCarrier, DeviceVersion
from fhir.resources.identifier import Identifier
from fhir.resources.meta import Meta
from fhir.resources.organization import Organization
from fhir.resources.practitioner import Practitioner
from fhir.resources.practitionerrole import PractitionerRole

from bridge.fhir import constants as c
from bridge.fhir.datatypes import concept, data_absent, dicom_uid_identifier, reference
from bridge.fhir.ids import resource_id
from bridge.fhir.patient import human_name
from bridge.model import Code, Equipment, PersonName

MISSING_DICOM_TERMINOLOGY = "http://hl7.eu/fhir/imaging-r5/CodeSystem/codesystem-missing-dicom-terminology"
DEVICE_UID_TYPE = Code(MISSING_DICOM_TERMINOLOGY, "00181002", "Device UID")
# UDI issuing agencies (R5 Device.udiCarrier.issuer): only the GS1 human-readable form is parsed.
GS1_DI_ISSUER = "http://hl7.org/fhir/NamingSystem/gs1-di"
_GS1_DI = re.compile(r"\(01\)(\d{14})")


def build_organization(name: str) -> Organization:
    """organization-eu-core, identified by its name (DICOM gives no organization identifier)."""
    return Organization(
        id=resource_id("Organization", name),
        meta=Meta(profile=[c.PROFILE_ORGANIZATION]),
        name=name,
    )


def equipment_key(equipment: Equipment) -> tuple[str, ...]:
    """What identifies the device: its Device UID when DICOM gives one, else what the equipment module names."""
    if equipment.device_uid:
        return (equipment.device_uid,)
    return (
        equipment.manufacturer or "",
        equipment.model_name or "",
        equipment.device_serial_number or "",
        equipment.station_name or "",
    )


def has_device(equipment: Equipment) -> bool:
    return any(equipment_key(equipment))


def device_id(equipment: Equipment) -> str:
    """The id of the Device ``build_device`` makes of ``equipment``."""
    return resource_id("Device", *equipment_key(equipment))


def build_device(equipment: Equipment, modality: str) -> Device:
    """DeviceEuImaging from the General Equipment module (guide §2.10, §8 DicomToDeviceEuImaging).

    identifier <- Device UID (0018,1002) and Device ID (0018,1003); version <- Software Versions (0018,1020);
    type <- Modality and Manufacturer's Device Class UID (0018,100B; the guide writes 0018,1008, Gantry ID);
    name/displayName <- Station Name (0008,1010) | Manufacturer's Model Name (0008,1090); udiCarrier <- UDI Sequence
    (0018,100A); serialNumber <- (0018,1000); manufacturer <- Manufacturer (0008,0070).
    """
    # R5 device-nametype has no model name: the model goes to modelNumber, the station to a friendly name.
    names = [DeviceName(value=equipment.station_name, type="user-friendly-name")] if equipment.station_name else []
    versions = [DeviceVersion(value=v) for v in equipment.software_versions] or None
    identifiers = [dicom_uid_identifier(equipment.device_uid, DEVICE_UID_TYPE)] if equipment.device_uid else []
    if equipment.device_id:
        identifiers.append(Identifier(value=equipment.device_id, type=CodeableConcept(text="Device ID")))
    classes = [
        concept(Code(c.URN_RFC3986, f"urn:oid:{uid}"), text="Manufacturer's Device Class UID")
        for uid in equipment.manufacturer_device_class_uids
    ]
    return Device(
        id=device_id(equipment),
        meta=Meta(profile=[c.PROFILE_DEVICE]),
        identifier=identifiers or None,
        displayName=equipment.station_name or equipment.model_name,
        udiCarrier=[_udi_carrier(udi) for udi in equipment.unique_device_identifiers] or None,
        status="active",
        category=[concept(c.SCT_IMAGING_DEVICE)],
        type=[concept(Code(c.DCM, modality), text=modality), *classes],
        manufacturer=equipment.manufacturer,
        modelNumber=equipment.model_name,
        serialNumber=equipment.device_serial_number,
        name=names or None,
        version=versions,
    )


def _udi_carrier(udi: str) -> DeviceUdiCarrier:
    """A UDI as DICOM gives it (human-readable form): the GS1 DI and issuer when it is GS1, else the whole string
    as device identifier (the guide's mapping) with the issuer (1..1 in R5) marked unknown."""
    gs1 = _GS1_DI.match(udi)
    if gs1 is not None:
        return DeviceUdiCarrier(deviceIdentifier=gs1.group(1), issuer=GS1_DI_ISSUER, carrierHRF=udi)
    return DeviceUdiCarrier(deviceIdentifier=udi, issuer__ext=data_absent(), carrierHRF=udi)


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
