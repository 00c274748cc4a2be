"""DoseSummary -> ObservationRadiationDoseEuImaging and its DeviceEuImaging (sr-mapping.md §4.2; guide §2.10, §2.11).

One Observation per radiation dose SR: LOINC 73569-6, the §4.3 narrative as valueString (the profile allows a
string only), derivedFrom the ImagingStudy and the SR instance's ImagingSelection. It is placed in the
Composition procedure section, DiagnosticReport.result (dgr-1) and DiagnosticReport.extension[procedure].
"""

from __future__ import annotations

from fhir.resources.device import Device, DeviceName
from fhir.resources.meta import Meta
from fhir.resources.observation import Observation
from fhir.resources.period import Period
from fhir.resources.reference import Reference

from bridge.fhir import constants as c
from bridge.fhir.content import ContentContext, Placement
from bridge.fhir.datatypes import concept, dicom_uid_identifier, fhir_datetime, instant, reference
from bridge.fhir.ids import resource_id
from bridge.model import Code, DeviceObserver, DoseSummary, EuSection
from bridge.settings import FhirSettings

PROFILE_RADIATION_DOSE = c.IG + "ObservationRadiationDoseEuImaging"
RADIATION_DOSE_CODE = Code(
    c.LOINC, "73569-6", "Radiation exposure and protection information [Description] Document Diagnostic imaging"
)


def dose_placement(ctx: ContentContext) -> Placement:
    """The dose Observation (and its Device) of ``ctx.report``; empty when it has no dose narrative."""
    placement = Placement()
    dose = ctx.report.content.dose
    if dose is None or not dose.narrative:
        return placement
    report = ctx.report
    device = dose_device(ctx)
    issued = _issued(ctx)
    effective = _period(dose, ctx.settings)
    derived_from = [reference("ImagingStudy", ctx.imaging_study_id)]
    if ctx.sr_selection_id is not None:
        derived_from.append(reference("ImagingSelection", ctx.sr_selection_id))
    observation = Observation(
        id=resource_id("Observation", report.sop_instance_uid, "radiation-dose"),
        meta=Meta(profile=[PROFILE_RADIATION_DOSE]),
        basedOn=list(ctx.based_on) or None,
        status=ctx.observation_status,
        code=concept(RADIATION_DOSE_CODE, text=RADIATION_DOSE_CODE.display),
        subject=reference("Patient", ctx.patient_id),
        effectivePeriod=effective,
        issued=issued,
        valueString=dose.narrative,
        device=reference("Device", device.id or "") if device is not None else None,
        derivedFrom=derived_from,
    )
    ref = reference("Observation", observation.id or "")
    placement.resources.append(observation)
    if device is not None:
        placement.resources.append(device)
    placement.results.append(ref)
    placement.add_entry(EuSection.PROCEDURE, ref)
    placement.idr.append((c.EXT_IDR_IMAGING_PROCEDURE, ref))
    placement.add_narrative(EuSection.PROCEDURE, dose.narrative)
    return placement


def dose_device(ctx: ContentContext) -> Device | None:
    """DeviceEuImaging of the irradiating device: the DoseSummary's device, else the report's device observer."""
    dose = ctx.report.content.dose
    observer = dose.device if dose is not None and dose.device is not None else None
    if observer is None and ctx.report.device_observers:
        observer = ctx.report.device_observers[0]
    if observer is None or not any(
        (observer.uid, observer.name, observer.manufacturer, observer.model_name, observer.serial_number)
    ):
        return None
    return Device(
        id=_device_id(observer, ctx.report.sop_instance_uid),
        meta=Meta(profile=[c.PROFILE_DEVICE]),
        identifier=[dicom_uid_identifier(observer.uid)] if observer.uid else None,
        status="active",
        category=[concept(c.SCT_IMAGING_DEVICE)],
        manufacturer=observer.manufacturer,
        modelNumber=observer.model_name,
        serialNumber=observer.serial_number,
        name=[DeviceName(value=observer.name, type="user-friendly-name")] if observer.name else None,
        location=Reference(display=observer.location) if observer.location else None,
    )


def _device_id(observer: DeviceObserver, sop_instance_uid: str) -> str:
    """The same device gets the same id from every dose SR: by its UID, else by what names it."""
    if observer.uid:
        return resource_id("Device", "device-observer", observer.uid)
    names = (observer.manufacturer or "", observer.model_name or "", observer.serial_number or "", observer.name or "")
    if observer.serial_number:
        return resource_id("Device", "device-observer", *names)
    return resource_id("Device", sop_instance_uid, "radiation-dose")


def _issued(ctx: ContentContext) -> str | None:
    """Observation.issued: the content date/time of the dose SR (sr-mapping.md §4.2), else the study start."""
    when = ctx.report.content_datetime or ctx.study.started
    return instant(when, ctx.settings) if when is not None else None


def _period(dose: DoseSummary, settings: FhirSettings) -> Period | None:
    """effectivePeriod from the first and last irradiation (or the CT start/end of irradiation)."""
    if dose.started is None and dose.ended is None:
        return None
    start, start_ext = fhir_datetime(dose.started, settings) if dose.started else (None, None)
    end, end_ext = fhir_datetime(dose.ended, settings) if dose.ended else (None, None)
    return Period(start=start, start__ext=start_ext, end=end, end__ext=end_ext)


__all__ = ["dose_device", "dose_placement"]
