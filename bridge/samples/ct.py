"""Synthetic CT Image Storage instances with the headers a real CT scanner writes (PS3.3 A.3).

One template data set per series is built and encoded once; each instance only changes its UID, numbers,
position and pixel values before it is written, which keeps writing above 500 files a second.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

from bridge.samples import facts
from bridge.samples.uids import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    UID_NAMESPACE,
    sample_uid,
)

# General Equipment module, PS3.3 C.7.5.1: the (fictional) scanner
MANUFACTURER = "Example Medical Systems"
MANUFACTURER_MODEL_NAME = "Example CT 128"
DEVICE_SERIAL_NUMBER = "CT128-00417"
SOFTWARE_VERSIONS = "VX24A SP2"
STATION_NAME = "CT01"

RECONSTRUCTION_DIAMETER_MM = 350.0
CTDI_PHANTOM = (codes.DCM.IECBodyDosimetryPhantom.value, "DCM", codes.DCM.IECBodyDosimetryPhantom.meaning)
_SEED_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,40}")


@dataclass(frozen=True, slots=True)
class StudySpec:
    """What tells one synthetic study from another: the UID namespace, folder and order identifiers."""

    uid_names: tuple[str, ...]  # prefix of every sample_uid() call for this study
    folder: str
    accession_number: str  # SH, at most 16 characters
    study_id: str  # SH
    requested_procedure_id: str  # SH
    scheduled_procedure_step_id: str  # SH
    performed_procedure_step_id: str  # SH

    def uid(self, *names: str) -> str:
        """Return the UID of a named part of this study (``"study"``, ``"series-1"``, ...)."""
        return sample_uid(*self.uid_names, *names)

    @property
    def study_instance_uid(self) -> str:
        return self.uid("study")


@dataclass(frozen=True, slots=True)
class SeriesKind:
    """One reconstruction of the acquisition: what differs between the series of a study."""

    description: str
    slice_thickness_mm: float
    convolution_kernel: str
    window_center: str
    window_width: str
    window_explanation: str
    series_time: str
    has_timezone: bool  # writes Timezone Offset From UTC (0008,0201) in its instances


CHEST_CT = StudySpec(
    uid_names=("samples", "ct-chest"),
    folder="ct-chest",
    accession_number="ACC-2024-0001",
    study_id="CT-2024-0001",
    requested_procedure_id="RP-2024-0001",
    scheduled_procedure_step_id="SPS-2024-0001",
    performed_procedure_step_id="PPS-2024-0001",
)

# Series 1 carries Timezone Offset From UTC and series 2 does not, so readers meet both cases
# (sr-mapping.md §0.4: without it the bridge falls back to the site zone).
AXIAL_5MM = SeriesKind(
    description="Axial 5mm",
    slice_thickness_mm=5.0,
    convolution_kernel="STANDARD",
    window_center="40",
    window_width="400",
    window_explanation="MEDIASTINUM",
    series_time="102112",
    has_timezone=True,
)
AXIAL_1MM_LUNG = SeriesKind(
    description="Axial 1mm lung",
    slice_thickness_mm=1.0,
    convolution_kernel="LUNG",
    window_center="-600",
    window_width="1500",
    window_explanation="LUNG",
    series_time="102115",
    has_timezone=False,
)
SERIES_KINDS = (AXIAL_5MM, AXIAL_1MM_LUNG)

ACQUISITION_TIME = "102045"
FIRST_SLICE_Z_MM = -100.0


def series_kind(series_number: int) -> SeriesKind:
    """Return the reconstruction of a series: odd numbers are 5 mm soft tissue, even numbers 1 mm lung."""
    return SERIES_KINDS[(series_number - 1) % len(SERIES_KINDS)]


def bench_study(seed: str) -> StudySpec:
    """Return the study written by ``write_ct_study`` for a seed; its UIDs never meet the bundled set's.

    Raises:
        ValueError: the seed is not 1-40 characters of letters, digits, ``-`` and ``_`` (it names a folder).
    """
    if not _SEED_PATTERN.fullmatch(seed):
        raise ValueError(f"seed must be 1-40 characters of A-Z a-z 0-9 - _, got {seed!r}")
    tag = uuid.uuid5(UID_NAMESPACE, f"ct-study/{seed}").hex[:8].upper()
    return StudySpec(
        uid_names=("ct-study", seed),
        folder=f"ct-{seed}",
        accession_number=f"ACC-{tag}",
        study_id=f"CT-{tag}",
        requested_procedure_id=f"RP-{tag}",
        scheduled_procedure_step_id=f"SPS-{tag}",
        performed_procedure_step_id=f"PPS-{tag}",
    )


def ct_template_dataset(*, series_number: int = 1, rows: int = 16, columns: int = 16) -> Dataset:
    """Return instance 1 of a series of the bundled chest CT study, file meta and pixels included.

    Byte-for-byte the header that ``write_samples`` writes as ``ct-chest/series-<n>/IM0001.dcm``
    (for the default 16 x 16 matrix); tests change it freely, it is a new object on every call.

    Raises:
        ValueError: a series number or matrix size below 1.
    """
    _require_positive(series_number=series_number, rows=rows, columns=columns)
    ds = _series_template(CHEST_CT, series_number, rows, columns)
    _set_instance(ds, CHEST_CT, series_number, 1, _phantom(rows, columns))
    return ds


def write_ct_study(
    out_dir: Path,
    *,
    n_series: int,
    per_series: int,
    seed: str = "bench",
    rows: int = 16,
    columns: int = 16,
) -> list[Path]:
    """Write a synthetic CT study to ``out_dir/ct-<seed>/series-<n>/IM<nnnn>.dcm``; return the paths sorted.

    The same arguments give the same bytes in every run. Series alternate between the two
    reconstructions of the bundled study (5 mm with timezone offset, 1 mm lung without).
    Existing files with the same names are overwritten; nothing else in ``out_dir`` is touched.

    Raises:
        ValueError: a count or matrix size below 1, or a seed that cannot name a folder.
    """
    _require_positive(n_series=n_series, per_series=per_series, rows=rows, columns=columns)
    study = bench_study(seed)
    return write_study(out_dir, study, n_series=n_series, per_series=per_series, rows=rows, columns=columns)


def _require_positive(**values: int) -> None:
    """Raise ValueError naming the first argument that is below 1."""
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def write_study(
    out_dir: Path, study: StudySpec, *, n_series: int, per_series: int, rows: int, columns: int
) -> list[Path]:
    """Write every instance of ``study`` below ``out_dir/<study.folder>``; return the paths sorted."""
    phantom = _phantom(rows, columns)
    width = max(4, len(str(per_series)))
    paths: list[Path] = []
    for series_number in range(1, n_series + 1):
        series_dir = out_dir / study.folder / f"series-{series_number}"
        series_dir.mkdir(parents=True, exist_ok=True)
        ds = _series_template(study, series_number, rows, columns)
        _set_instance(ds, study, series_number, 1, phantom)
        ds = _encoded_once(ds)
        for instance_number in range(1, per_series + 1):
            _set_instance(ds, study, series_number, instance_number, phantom)
            path = series_dir / f"IM{instance_number:0{width}d}.dcm"
            dcmwrite(path, ds, enforce_file_format=True)
            paths.append(path)
    return sorted(paths)


def _encoded_once(template: Dataset) -> Dataset:
    """Return ``template`` encoded and read back, so its unchanged elements stay raw bytes.

    pydicom writes a raw element's bytes as they are, so only the elements that ``_set_instance``
    replaces are encoded per file: about twice as fast, and the output bytes are the same.
    """
    buffer = BytesIO()
    dcmwrite(buffer, template, enforce_file_format=True)
    buffer.seek(0)
    return dcmread(buffer)


def _series_template(study: StudySpec, series_number: int, rows: int, columns: int) -> Dataset:
    """Return the header shared by every instance of one series, without the per-instance values."""
    kind = series_kind(series_number)
    series_uid = study.uid(f"series-{series_number}")

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta.SourceApplicationEntityTitle = STATION_NAME

    # SOP Common module, PS3.3 C.12.1
    ds.SpecificCharacterSet = facts.SPECIFIC_CHARACTER_SET
    ds.SOPClassUID = CTImageStorage
    ds.InstanceCreationDate = facts.STUDY_DATE
    ds.InstanceCreationTime = kind.series_time
    if kind.has_timezone:
        ds.TimezoneOffsetFromUTC = facts.TIMEZONE_OFFSET_FROM_UTC  # PS3.3 C.12.1.1.8
    ds.CodingSchemeIdentificationSequence = facts.coding_scheme_identification(facts.LOCAL_SCHEME)

    # Patient module, PS3.3 C.7.1.1
    ds.PatientName = facts.PATIENT_NAME
    ds.PatientID = facts.PATIENT_ID
    ds.IssuerOfPatientID = facts.ISSUER_OF_PATIENT_ID
    ds.IssuerOfPatientIDQualifiersSequence = facts.issuer_of_patient_id_qualifiers()
    ds.PatientBirthDate = facts.PATIENT_BIRTH_DATE
    ds.PatientSex = facts.PATIENT_SEX

    # General Study module, PS3.3 C.7.2.1
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = facts.STUDY_DATE
    ds.StudyTime = facts.STUDY_TIME
    ds.ReferringPhysicianName = facts.REFERRING_PHYSICIAN_NAME
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    ds.IssuerOfAccessionNumberSequence = facts.issuer_of_accession_number()
    ds.StudyDescription = facts.STUDY_DESCRIPTION
    ds.ProcedureCodeSequence = [facts.procedure_code_item()]

    # Patient Study module, PS3.3 C.7.2.2
    ds.PatientAge = facts.PATIENT_AGE
    ds.PatientSize = facts.PATIENT_SIZE
    ds.PatientWeight = facts.PATIENT_WEIGHT

    # General Series module, PS3.3 C.7.3.1; no Laterality: the chest is not a paired body part
    ds.Modality = "CT"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDate = facts.STUDY_DATE
    ds.SeriesTime = kind.series_time
    ds.SeriesDescription = kind.description
    ds.ProtocolName = "Chest routine IV contrast"
    ds.BodyPartExamined = "CHEST"
    ds.PatientPosition = "HFS"  # Type 2C for CT: required for the patient-based coordinate system
    ds.PerformedProcedureStepID = study.performed_procedure_step_id
    ds.PerformedProcedureStepStartDate = facts.STUDY_DATE
    ds.PerformedProcedureStepStartTime = facts.STUDY_TIME
    ds.PerformedProcedureStepDescription = facts.STUDY_DESCRIPTION
    ds.RequestAttributesSequence = [_request_attributes(study)]

    # Frame of Reference module, PS3.3 C.7.4.1: both reconstructions share the acquisition's frame
    ds.FrameOfReferenceUID = study.uid("frame-of-reference")
    ds.PositionReferenceIndicator = ""

    # General Equipment module, PS3.3 C.7.5.1
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = facts.INSTITUTION_NAME
    ds.InstitutionAddress = facts.INSTITUTION_ADDRESS
    ds.StationName = STATION_NAME
    ds.InstitutionalDepartmentName = facts.INSTITUTIONAL_DEPARTMENT_NAME
    ds.ManufacturerModelName = MANUFACTURER_MODEL_NAME
    ds.DeviceSerialNumber = DEVICE_SERIAL_NUMBER
    ds.SoftwareVersions = SOFTWARE_VERSIONS

    # General Acquisition module, PS3.3 C.7.10.1; General Image module, PS3.3 C.7.6.1
    ds.AcquisitionNumber = 1
    ds.AcquisitionDate = facts.STUDY_DATE
    ds.AcquisitionTime = ACQUISITION_TIME
    ds.ContentDate = facts.STUDY_DATE
    ds.ContentTime = kind.series_time
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]  # PS3.3 C.8.2.1.1.1

    # Contrast/Bolus module, PS3.3 C.7.6.4: required by the CT IOD when contrast was given
    ds.ContrastBolusAgent = "Iohexol 350 mgI/ml"
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusVolume = "80"
    ds.ContrastBolusStartTime = "101955"
    ds.ContrastBolusIngredient = "IODINE"
    ds.ContrastBolusIngredientConcentration = "350"

    # Image Plane module, PS3.3 C.7.6.2: axial slices, rows along +Y, columns along +X
    pixel_spacing = f"{RECONSTRUCTION_DIAMETER_MM / columns:.6g}"
    ds.PixelSpacing = [pixel_spacing, pixel_spacing]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceThickness = f"{kind.slice_thickness_mm:g}"
    ds.SpacingBetweenSlices = f"{kind.slice_thickness_mm:g}"

    # Image Pixel module, PS3.3 C.7.6.3, as constrained by the CT Image module, PS3.3 C.8.2.1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0

    # CT Image module, PS3.3 C.8.2.1
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.KVP = "120"
    ds.ScanOptions = "HELICAL"
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = f"{RECONSTRUCTION_DIAMETER_MM:g}"
    ds.DistanceSourceToDetector = "1085.6"
    ds.DistanceSourceToPatient = "595"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "160"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = 180
    ds.Exposure = 90
    ds.FilterType = "BODY"
    ds.GeneratorPower = 22
    ds.FocalSpots = "1.2"
    ds.ConvolutionKernel = kind.convolution_kernel
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.6
    ds.TotalCollimationWidth = 38.4
    ds.SpiralPitchFactor = 1.0
    ds.CTDIvol = 8.5
    # CID 4052 Phantom Devices: CTDIvol is only meaningful with the phantom it refers to
    ds.CTDIPhantomTypeCodeSequence = [facts.code_item(*CTDI_PHANTOM)]

    # VOI LUT module, PS3.3 C.11.2
    ds.WindowCenter = kind.window_center
    ds.WindowWidth = kind.window_width
    ds.WindowCenterWidthExplanation = kind.window_explanation
    return ds


def _request_attributes(study: StudySpec) -> Dataset:
    """Return the Request Attributes Sequence item (PS3.3 C.7.3.1, Table 10-9) of the study's order."""
    item = Dataset()
    item.AccessionNumber = study.accession_number
    item.IssuerOfAccessionNumberSequence = facts.issuer_of_accession_number()
    item.StudyInstanceUID = study.study_instance_uid
    item.RequestedProcedureID = study.requested_procedure_id
    item.RequestedProcedureDescription = facts.REQUESTED_PROCEDURE_DESCRIPTION
    item.RequestedProcedureCodeSequence = [facts.procedure_code_item()]
    item.ScheduledProcedureStepID = study.scheduled_procedure_step_id
    item.ScheduledProcedureStepDescription = facts.REQUESTED_PROCEDURE_DESCRIPTION
    return item


def _set_instance(
    ds: Dataset, study: StudySpec, series_number: int, instance_number: int, phantom: npt.NDArray[np.uint16]
) -> None:
    """Give the series template the values of one instance, in place."""
    kind = series_kind(series_number)
    sop_uid = UID(study.uid(f"series-{series_number}", f"instance-{instance_number}"))
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.InstanceNumber = instance_number
    # Head first supine: slices go towards the feet, i.e. towards -Z (PS3.3 C.7.6.2.1.1)
    z = f"{FIRST_SLICE_Z_MM - kind.slice_thickness_mm * (instance_number - 1):.1f}"
    half = f"{-RECONSTRUCTION_DIAMETER_MM / 2:.1f}"
    ds.ImagePositionPatient = [half, half, z]
    ds.SliceLocation = z
    pixels = (phantom + np.uint16(instance_number % 16)).astype("<u2", copy=False)
    ds.add_new(0x7FE00010, "OW", pixels.tobytes())  # Pixel Data; OW for 16-bit in explicit VR


def _phantom(rows: int, columns: int) -> npt.NDArray[np.uint16]:
    """Return a little-endian uint16 chest phantom (air, soft-tissue body, two lungs) in stored values."""
    y, x = np.mgrid[-1 : 1 : rows * 1j, -1 : 1 : columns * 1j]
    stored = np.full((rows, columns), 24, dtype="<u2")  # -1000 HU with intercept -1024
    stored[(x / 0.9) ** 2 + (y / 0.7) ** 2 <= 1] = 1064  # 40 HU
    for centre in (-0.4, 0.4):
        stored[((x - centre) / 0.3) ** 2 + (y / 0.5) ** 2 <= 1] = 174  # -850 HU
    return stored
