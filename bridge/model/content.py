"""Structured report content: measurements, coded findings, dose summaries, key images and documents.

Extraction fills these from SR, KOS and encapsulated-document objects (sr-mapping.md §2–§6); the FHIR
builders turn them into Observations, ImagingSelections, Devices and attachments. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bridge.model.common import Code, DicomDateTime
from bridge.model.manifest import ManifestDescription


@dataclass(frozen=True, slots=True)
class ImageReference:
    """One referenced SOP instance (IMAGE / COMPOSITE / WAVEFORM item, or an evidence sequence entry)."""

    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str | None = None  # from the evidence sequences or the image library, when known
    study_instance_uid: str | None = None
    frames: tuple[int, ...] = ()  # Referenced Frame Number
    segments: tuple[int, ...] = ()  # Referenced Segment Number


class RegionKind(StrEnum):
    """What an ImagingSelection of a measurement stands for (HL7 dicom-sr profiles, sr-mapping.md §3.1)."""

    IMAGE_REGION_2D = "image-region-2d"  # SCOORD 111030
    IMAGE_REGION_3D = "image-region-3d"  # SCOORD3D 111030
    REFERENCED_SEGMENT = "referenced-segment"  # IMAGE 121191
    REFERENCED_SEGMENTATION_FRAME = "referenced-segmentation-frame"  # IMAGE 121214
    REGION_IN_SPACE = "region-in-space"  # COMPOSITE 130488
    VOLUME_SURFACE = "volume-surface"  # SCOORD3D 121231
    REAL_WORLD_VALUE_MAP = "real-world-value-map"  # COMPOSITE 126100
    ILLUSTRATION_OF_ROI = "illustration-of-roi"  # IMAGE 121200
    VISUAL_EXPLANATION = "visual-explanation"  # IMAGE 130401
    SOURCE_IMAGE = "source-image"  # IMAGE 260753009 Source (TID 1501), or any other image reference


@dataclass(frozen=True, slots=True)
class Region:
    """A referenced region, segment or image of a measurement group or measurement."""

    kind: RegionKind
    concept: Code | None  # the content item's concept name
    images: tuple[ImageReference, ...] = ()
    graphic_type: str | None = None  # POINT, POLYLINE, CIRCLE, ELLIPSE, MULTIPOINT, POLYGON...
    coordinates: tuple[float, ...] = ()  # Graphic Data, as given
    frame_of_reference_uid: str | None = None  # SCOORD3D
    path: str = ""


@dataclass(frozen=True, slots=True)
class Quantity:
    """A NUM value: decimal string as DICOM wrote it, UCUM unit when the units are UCUM."""

    value: str | None  # decimal string (Numeric Value or Floating Point Value); None when absent
    unit: str | None  # unit shown to readers (Code Meaning, or the normalised code)
    ucum: str | None  # UCUM code, normalised (sr-mapping.md §0.3); None for non-UCUM units
    absent_reason: str | None = None  # FHIR data-absent-reason code when value is None


@dataclass(frozen=True, slots=True)
class FindingSite:
    """Finding Site (363698007) with its laterality and topographical modifiers."""

    site: Code
    laterality: Code | None = None
    modifiers: tuple[Code, ...] = ()


@dataclass(frozen=True, slots=True)
class Measurement:
    """A NUM item: TID 300 in a TID 1500 group, or TID 1400–1404 in a TID 2000 section."""

    path: str
    concept: Code
    quantity: Quantity
    method: Code | None = None
    derivation: Code | None = None  # 121401 Derivation (mean, maximum, SD...)
    finding_sites: tuple[FindingSite, ...] = ()
    interpretations: tuple[Code, ...] = ()  # 121402 Normality, 121403 Level of Significance, 121404 Selection
    regions: tuple[Region, ...] = ()  # INFERRED FROM / SELECTED FROM references of this measurement
    observation_uid: str | None = None
    observed_at: DicomDateTime | None = None
    tracking_uid: str | None = None


@dataclass(frozen=True, slots=True)
class QualitativeEvaluation:
    """A CODE or TEXT evaluation (TID 1500 qualitative evaluations)."""

    path: str
    concept: Code
    value: Code | None = None
    text: str | None = None
    observation_uid: str | None = None


@dataclass(frozen=True, slots=True)
class Algorithm:
    """TID 4019 Algorithm Identification."""

    name: str
    version: str | None = None
    parameters: tuple[str, ...] = ()
    family: Code | None = None


class GroupKind(StrEnum):
    """TID 1500 measurement group templates (sr-mapping.md §3.2)."""

    PLANAR = "1410"
    VOLUMETRIC = "1411"
    IMAGE = "1501"


@dataclass(frozen=True, slots=True)
class MeasurementGroup:
    """A TID 1500 measurement group (125007), or a derived-measurements group (126011)."""

    path: str
    kind: GroupKind
    tracking_identifier: str | None = None
    tracking_uid: str | None = None
    finding_category: Code | None = None
    finding_type: Code | None = None  # 121071 Finding
    finding_sites: tuple[FindingSite, ...] = ()
    method: Code | None = None
    measurements: tuple[Measurement, ...] = ()
    evaluations: tuple[QualitativeEvaluation, ...] = ()
    regions: tuple[Region, ...] = ()
    algorithm: Algorithm | None = None
    observation_uid: str | None = None
    observed_at: DicomDateTime | None = None
    notes: tuple[str, ...] = ()  # time point context and other text kept as notes
    derived: bool = False  # a child of 126011 Derived Imaging Measurements


@dataclass(frozen=True, slots=True)
class CodedObservation:
    """A CODE or NUM item of a TID 2000 section (sr-mapping.md §2.3): a finding, impression or measurement."""

    path: str
    section: str  # EuSection value of the heading it stands under
    concept: Code | None
    value: Code | None = None
    quantity: Quantity | None = None
    finding_sites: tuple[FindingSite, ...] = ()
    method: Code | None = None
    regions: tuple[Region, ...] = ()
    observation_uid: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceObserver:
    """TID 1002 device observer (121012–121017), or the device an algorithm runs on."""

    uid: str | None = None
    name: str | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    serial_number: str | None = None
    location: str | None = None


class DoseKind(StrEnum):
    """Which radiation dose template a dose SR follows (sr-mapping.md §4)."""

    PROJECTION = "10001"
    CT = "10011"
    RADIOPHARMACEUTICAL = "10021"
    PATIENT = "10030"  # patient dose estimate: registered only, no narrative
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class DoseSummary:
    """A radiation dose SR summarised: the narrative of sr-mapping.md §4.3 and the facts it was built from."""

    kind: DoseKind
    narrative: str  # empty for PATIENT/OTHER: nothing to summarise as scanner output
    title: Code | None
    started: DicomDateTime | None = None
    ended: DicomDateTime | None = None
    events: int = 0
    totals: tuple[tuple[str, Quantity], ...] = ()  # (DCM code, value) of the accumulated quantities used
    device: DeviceObserver | None = None


class KeyObjectClass(StrEnum):
    """What a Key Object Selection document is for (sr-mapping.md §5.1)."""

    KEY_IMAGES = "key-images"
    MANIFEST = "manifest"
    REJECTION = "rejection"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class KeyImageSelection:
    """The referenced instances of one series in a KOS (or in a TID 2000 Key Images heading)."""

    study_instance_uid: str
    series_instance_uid: str
    instances: tuple[ImageReference, ...]
    title: Code | None
    description: str | None = None
    section: str = "59776-5"  # EuSection value the selection is shown in: findings unless under impression


@dataclass(frozen=True, slots=True)
class EncapsulatedDocument:
    """An Encapsulated PDF or CDA (PS3.3 C.24.2): the document bytes and what describes them."""

    mime_type: str
    data: bytes
    title: str | None = None
    concept: Code | None = None
    created: DicomDateTime | None = None
    hl7_instance_identifier: str | None = None  # CDA: root^extension
    source_study_uids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StructuredContent:
    """What one SR, KOS or encapsulated document contributes beyond section text."""

    observations: tuple[CodedObservation, ...] = ()
    groups: tuple[MeasurementGroup, ...] = ()
    evaluations: tuple[QualitativeEvaluation, ...] = ()  # report-level (C0034375 container)
    dose: DoseSummary | None = None
    key_images: tuple[KeyImageSelection, ...] = ()
    key_object_class: KeyObjectClass | None = None
    document: EncapsulatedDocument | None = None
    algorithms: tuple[Algorithm, ...] = ()
    devices: tuple[DeviceObserver, ...] = ()
    conclusion_codes: tuple[Code, ...] = ()
    recommendation_codes: tuple[Code, ...] = ()
    evidence: tuple[ImageReference, ...] = field(default=())  # Current Requested Procedure / Pertinent Other
    manifest: ManifestDescription | None = None  # a manifest KOS (key_object_class MANIFEST): what it says
