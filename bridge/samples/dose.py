"""The sample CT Radiation Dose SR (X-Ray Radiation Dose SR IOD, PS3.3 A.35.8; PS3.16 TID 10011), built with pydicom.

highdicom has no dose templates, so the content tree is written item by item. The scanner reports two irradiation
events of the chest CT: the localizer (constant angle) and the helical acquisition that produced both image series.
Every number is a DS string, so the DLP total is exactly the sum of the event DLPs in decimal arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import XRayRadiationDoseSRStorage

from bridge.samples import ct, facts
from bridge.samples.ct import StudySpec
from bridge.samples.header import copy_patient_and_study, new_instance
from bridge.samples.report import referenced_request
from bridge.samples.uids import sample_uid

DOSE_SERIES_NUMBER = 997
DOSE_SERIES_DESCRIPTION = "Dose Report"
DOSE_INSTANCE_NUMBER = 1
DOSE_TEMPLATE_ID = "10011"
CONTENT_DATE = facts.STUDY_DATE
CONTENT_TIME = "102110"  # written by the scanner right after the last acquisition
IRRADIATION_START = "20240315102005+0100"  # DT with the site's offset (PS3.5 6.2)
IRRADIATION_END = "20240315102052+0100"

# TID 1002/1004 device observer: the scanner that wrote the dose report
DEVICE_OBSERVER_UID = sample_uid("samples", "device", ct.MANUFACTURER_MODEL_NAME, ct.DEVICE_SERIAL_NUMBER)

PROCEDURE_REPORTED = codes.SCT.ComputedTomography  # SCT 77477000, TID 10011 row 2
TARGET_REGION = codes.SCT.Chest  # SCT 816094009, CID 4030
SPIRAL_ACQUISITION = codes.SCT.SpiralAcquisition  # SCT 116152004, CID 10013
CONSTANT_ANGLE_ACQUISITION = codes.DCM.ConstantAngleAcquisition  # DCM 113805, CID 10013
PHANTOM = codes.DCM.IECBodyDosimetryPhantom  # DCM 113691, CID 4052
SOURCE_OF_DOSE_INFORMATION = codes.DCM.AutomatedDataCollection  # DCM 113856, CID 10021
SCOPE_OF_ACCUMULATION = codes.DCM.Study  # DCM 113014, CID 10000

# UCUM units as TID 10011-10013 give them: (code value, code meaning)
MGY = ("mGy", "mGy")
MGY_CM = ("mGy.cm", "mGy.cm")
EVENTS = ("{events}", "events")
SECONDS = ("s", "s")
MM = ("mm", "mm")
KV = ("kV", "kV")
MA = ("mA", "mA")
RATIO = ("{ratio}", "ratio")
SOURCES = ("{X-Ray sources}", "X-Ray sources")

CONTAINS = "CONTAINS"
HAS_OBS_CONTEXT = "HAS OBS CONTEXT"
HAS_CONCEPT_MOD = "HAS CONCEPT MOD"
HAS_PROPERTIES = "HAS PROPERTIES"


@dataclass(frozen=True, slots=True)
class CTEvent:
    """One TID 10013 CT irradiation event, its values as DS strings."""

    protocol: str
    acquisition_type: Code
    exposure_time_s: str
    scanning_length_mm: str
    single_collimation_mm: str
    total_collimation_mm: str
    pitch_factor: str | None  # TID 10013: required for spiral and sequenced acquisitions only
    kvp: str
    max_tube_current_ma: str
    tube_current_ma: str
    exposure_time_per_rotation_s: str | None  # not for stationary, free or constant angle acquisitions
    ctdivol_mgy: str
    dlp_mgy_cm: str


# Consistent with the CT images (120 kV, 180 mA, 0.5 s rotation, 0.6/38.4 mm collimation, pitch 1, CTDIvol 8.5 mGy)
# and with DLP = CTDIvol x scanning length: 0.12 mGy x 45 cm = 5.4, 8.5 mGy x 35 cm = 297.5 mGy.cm.
EVENTS_DATA = (
    CTEvent(
        protocol="Topogram AP",
        acquisition_type=CONSTANT_ANGLE_ACQUISITION,
        exposure_time_s="3.2",
        scanning_length_mm="450",
        single_collimation_mm="0.6",
        total_collimation_mm="0.6",
        pitch_factor=None,
        kvp="120",
        max_tube_current_ma="35",
        tube_current_ma="35",
        exposure_time_per_rotation_s=None,
        ctdivol_mgy="0.12",
        dlp_mgy_cm="5.4",
    ),
    CTEvent(
        protocol="Chest routine IV contrast",
        acquisition_type=SPIRAL_ACQUISITION,
        exposure_time_s="4.56",
        scanning_length_mm="350",
        single_collimation_mm="0.6",
        total_collimation_mm="38.4",
        pitch_factor="1",
        kvp="120",
        max_tube_current_ma="180",
        tube_current_ma="180",
        exposure_time_per_rotation_s="0.5",
        ctdivol_mgy="8.5",
        dlp_mgy_cm="297.5",
    ),
)


def dlp_total(events: Sequence[CTEvent] = EVENTS_DATA) -> str:
    """Return the CT Dose Length Product Total (DCM 113813) of ``events`` as a DS string: the exact decimal sum."""
    return str(sum((Decimal(event.dlp_mgy_cm) for event in events), Decimal(0)))


def build_dose_report(study: StudySpec, ct_instance: Dataset) -> Dataset:
    """Return the scanner's CT Radiation Dose SR for ``study``; ``ct_instance`` supplies patient and study.

    Completion Flag COMPLETE and Verification Flag UNVERIFIED, as a scanner writes it; no Preliminary Flag.
    """
    ds = new_instance(
        XRayRadiationDoseSRStorage,
        study.uid("dose-series", "dose-1"),
        creation_date=CONTENT_DATE,
        creation_time=CONTENT_TIME,
    )
    ds.file_meta.SourceApplicationEntityTitle = ct.STATION_NAME
    copy_patient_and_study(ct_instance, ds)

    # SR Document Series module, PS3.3 C.17.1
    ds.Modality = "SR"
    ds.SeriesInstanceUID = study.uid("dose-series")
    ds.SeriesNumber = DOSE_SERIES_NUMBER
    ds.SeriesDate = CONTENT_DATE
    ds.SeriesTime = CONTENT_TIME
    ds.SeriesDescription = DOSE_SERIES_DESCRIPTION
    ds.ReferencedPerformedProcedureStepSequence = []  # Type 2

    # General Equipment (C.7.5.1) and Enhanced General Equipment (C.7.5.2) modules: the scanner
    ds.Manufacturer = ct.MANUFACTURER
    ds.InstitutionName = facts.INSTITUTION_NAME
    ds.InstitutionAddress = facts.INSTITUTION_ADDRESS
    ds.StationName = ct.STATION_NAME
    ds.InstitutionalDepartmentName = facts.INSTITUTIONAL_DEPARTMENT_NAME
    ds.ManufacturerModelName = ct.MANUFACTURER_MODEL_NAME
    ds.DeviceSerialNumber = ct.DEVICE_SERIAL_NUMBER
    ds.SoftwareVersions = ct.SOFTWARE_VERSIONS

    # SR Document General module, PS3.3 C.17.2
    ds.InstanceNumber = DOSE_INSTANCE_NUMBER
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ContentDate = CONTENT_DATE
    ds.ContentTime = CONTENT_TIME
    ds.ReferencedRequestSequence = [referenced_request(study)]
    ds.PerformedProcedureCodeSequence = [facts.procedure_code_item()]

    # SR Document Content module, PS3.3 C.17.3: the root content item of TID 10011
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code_item(codes.DCM.XRayRadiationDoseReport)]
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = DOSE_TEMPLATE_ID
    ds.ContentTemplateSequence = [template]
    ds.ContentSequence = dose_content(study)
    return ds


def dose_content(study: StudySpec) -> list[Dataset]:
    """Return the children of the TID 10011 root, in template order (rows 2, 4-10, 12)."""
    scope = _code(HAS_OBS_CONTEXT, codes.DCM.ScopeOfAccumulation, SCOPE_OF_ACCUMULATION)
    scope.ContentSequence = [_uidref(HAS_PROPERTIES, codes.DCM.StudyInstanceUID, study.study_instance_uid)]
    return [
        _code(HAS_CONCEPT_MOD, codes.DCM.ProcedureReported, PROCEDURE_REPORTED),
        *_device_observer_context(),
        _datetime(HAS_OBS_CONTEXT, codes.DCM.StartOfXRayIrradiation, IRRADIATION_START),
        _datetime(HAS_OBS_CONTEXT, codes.DCM.EndOfXRayIrradiation, IRRADIATION_END),
        scope,
        _accumulated_dose(EVENTS_DATA),
        *(_ct_acquisition(study, number, event) for number, event in enumerate(EVENTS_DATA, start=1)),
        _code(CONTAINS, codes.DCM.SourceOfDoseInformation, SOURCE_OF_DOSE_INFORMATION),
    ]


def _device_observer_context() -> list[Dataset]:
    """Return TID 1002 with Observer Type Device and TID 1004 device observer identifying attributes."""
    return [
        _code(HAS_OBS_CONTEXT, codes.DCM.ObserverType, codes.DCM.Device),
        _uidref(HAS_OBS_CONTEXT, codes.DCM.DeviceObserverUID, DEVICE_OBSERVER_UID),
        _text(HAS_OBS_CONTEXT, codes.DCM.DeviceObserverName, ct.STATION_NAME),
        _text(HAS_OBS_CONTEXT, codes.DCM.DeviceObserverManufacturer, ct.MANUFACTURER),
        _text(HAS_OBS_CONTEXT, codes.DCM.DeviceObserverModelName, ct.MANUFACTURER_MODEL_NAME),
        _text(HAS_OBS_CONTEXT, codes.DCM.DeviceObserverSerialNumber, ct.DEVICE_SERIAL_NUMBER),
    ]


def _accumulated_dose(events: Sequence[CTEvent]) -> Dataset:
    """Return the TID 10012 CT Accumulated Dose Data container."""
    return _container(
        codes.DCM.CTAccumulatedDoseData,
        [
            _num(codes.DCM.TotalNumberOfIrradiationEvents, str(len(events)), EVENTS),
            _num(codes.DCM.CTDoseLengthProductTotal, dlp_total(events), MGY_CM),
        ],
    )


def _ct_acquisition(study: StudySpec, number: int, event: CTEvent) -> Dataset:
    """Return one TID 10013 CT Acquisition container (rows 1-4, 6, 8-23, 24-29)."""
    source = [
        _text(CONTAINS, codes.DCM.IdentificationOfTheXRaySource, "A"),
        _num(codes.DCM.KVP, event.kvp, KV),
        _num(codes.DCM.MaximumXRayTubeCurrent, event.max_tube_current_ma, MA),
        _num(codes.DCM.XRayTubeCurrent, event.tube_current_ma, MA),
    ]
    if event.exposure_time_per_rotation_s is not None:
        source.append(_num(codes.DCM.ExposureTimePerRotation, event.exposure_time_per_rotation_s, SECONDS))
    parameters = [
        _num(codes.DCM.ExposureTime, event.exposure_time_s, SECONDS),
        _num(codes.DCM.ScanningLength, event.scanning_length_mm, MM),
        _num(codes.DCM.NominalSingleCollimationWidth, event.single_collimation_mm, MM),
        _num(codes.DCM.NominalTotalCollimationWidth, event.total_collimation_mm, MM),
    ]
    if event.pitch_factor is not None:
        parameters.append(_num(codes.DCM.PitchFactor, event.pitch_factor, RATIO))
    parameters += [
        _num(codes.DCM.NumberOfXRaySources, "1", SOURCES),
        _container(codes.DCM.CTXRaySourceParameters, source),
    ]
    dose = [
        _num(codes.DCM.MeanCtdivol, event.ctdivol_mgy, MGY),
        _code(CONTAINS, codes.DCM.CtdiwPhantomType, PHANTOM),
        _num(codes.DCM.DLP, event.dlp_mgy_cm, MGY_CM),
    ]
    return _container(
        codes.DCM.CTAcquisition,
        [
            _text(CONTAINS, codes.DCM.AcquisitionProtocol, event.protocol),
            _code(CONTAINS, codes.DCM.TargetRegion, TARGET_REGION),
            _code(CONTAINS, codes.DCM.CTAcquisitionType, event.acquisition_type),
            _uidref(CONTAINS, codes.DCM.IrradiationEventUID, study.uid("dose-series", f"event-{number}")),
            _container(codes.DCM.CTAcquisitionParameters, parameters),
            _container(codes.DCM.CTDose, dose),
        ],
    )


def _code_item(code: Code) -> Dataset:
    """Return a Code Sequence Macro item (PS3.3 Table 8.8-1) for a pydicom code."""
    return facts.code_item(code.value, code.scheme_designator, code.meaning)


def _content_item(relationship: str, value_type: str, name: Code) -> Dataset:
    """Return a content item (PS3.3 Table C.17-5) with its relationship, value type and concept name."""
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [_code_item(name)]
    return item


def _container(name: Code, children: list[Dataset]) -> Dataset:
    item = _content_item(CONTAINS, "CONTAINER", name)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = children
    return item


def _code(relationship: str, name: Code, value: Code) -> Dataset:
    item = _content_item(relationship, "CODE", name)
    item.ConceptCodeSequence = [_code_item(value)]
    return item


def _text(relationship: str, name: Code, value: str) -> Dataset:
    item = _content_item(relationship, "TEXT", name)
    item.TextValue = value
    return item


def _uidref(relationship: str, name: Code, value: str) -> Dataset:
    item = _content_item(relationship, "UIDREF", name)
    item.UID = value
    return item


def _datetime(relationship: str, name: Code, value: str) -> Dataset:
    item = _content_item(relationship, "DATETIME", name)
    item.DateTime = value
    return item


def _num(name: Code, value: str, unit: tuple[str, str]) -> Dataset:
    """Return a CONTAINS NUM item with one Measured Value Sequence item in a UCUM unit (PS3.3 Table C.18.1-1)."""
    item = _content_item(CONTAINS, "NUM", name)
    measured = Dataset()
    measured.MeasurementUnitsCodeSequence = [facts.code_item(unit[0], "UCUM", unit[1])]
    measured.NumericValue = value
    item.MeasuredValueSequence = [measured]
    return item
