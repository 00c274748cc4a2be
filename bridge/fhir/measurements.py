"""TID 1500 measurement groups -> Observations, ImagingSelections, BodyStructures and Devices shaped by the HL7
"DICOM SR to FHIR Resource Mapping" IG (sr-mapping.md §3).

One ``imaging-measurement-group`` Observation per group (also ObservationFindingEuImaging: it goes into
DiagnosticReport.result and the Composition findings section), one ``imaging-measurement`` Observation per NUM and
one ``imaging-qualitative-evaluation`` Observation per CODE/TEXT evaluation, reached through ``hasMember`` (dgr-1).
Regions become ImagingSelections referenced from ``derivedFrom``. R5 ``Observation.partOf`` cannot point at an
ImagingStudy, so the study is referenced from ``derivedFrom`` as well.
"""

from __future__ import annotations

from decimal import Decimal

from fhir.resources.annotation import Annotation
from fhir.resources.bodystructure import BodyStructure, BodyStructureIncludedStructure
from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.coding import Coding
from fhir.resources.device import Device, DeviceName, DeviceProperty, DeviceVersion
from fhir.resources.identifier import Identifier
from fhir.resources.imagingselection import (
    ImagingSelection,
    ImagingSelectionInstance,
    ImagingSelectionInstanceImageRegion2D,
)
from fhir.resources.meta import Meta
from fhir.resources.observation import Observation, ObservationComponent
from fhir.resources.quantity import Quantity as FhirQuantity
from fhir.resources.reference import Reference

from bridge.fhir import constants as c
from bridge.fhir.content import ContentContext, Placement
from bridge.fhir.datatypes import dicom_uid_identifier, instant, reference
from bridge.fhir.ids import resource_id
from bridge.model import (
    Algorithm,
    Code,
    DeviceObserver,
    DicomDateTime,
    EuSection,
    FindingSite,
    ImageReference,
    Measurement,
    MeasurementGroup,
    QualitativeEvaluation,
    Quantity,
    Region,
    RegionKind,
)

DICOM_SR = "http://hl7.org/fhir/uv/dicom-sr/StructureDefinition/"
PROFILE_GROUP = DICOM_SR + "imaging-measurement-group"
PROFILE_MEASUREMENT = DICOM_SR + "imaging-measurement"
PROFILE_DERIVED_MEASUREMENT = DICOM_SR + "derived-imaging-measurement"
PROFILE_QUALITATIVE_EVALUATION = DICOM_SR + "imaging-qualitative-evaluation"
PROFILE_ALGORITHM = DICOM_SR + "algorithm-identification"
PROFILE_PARTICIPANT_DEVICE = DICOM_SR + "dicom-participant-device"
PROFILE_FINDING_SITE = DICOM_SR + "dicom-sr-finding-site"
PROFILE_SOURCE_SR_CONTENT_ITEM = DICOM_SR + "source-sr-content-item"

UMLS = "http://terminology.hl7.org/CodeSystem/umls"
UCUM = "http://unitsofmeasure.org"

MEASUREMENT_GROUP = Code(c.DCM, "125007", "Measurement Group")
DERIVED_IMAGING_MEASUREMENTS = Code(c.DCM, "126011", "Derived Imaging Measurements")
QUALITATIVE_EVALUATIONS = Code(UMLS, "C0034375", "Qualitative Evaluations")
DERIVATION = Code(c.DCM, "121401", "Derivation")
TRACKING_IDENTIFIER = Code(c.DCM, "112039", "Tracking Identifier")
TRACKING_UID = Code(c.DCM, "112040", "Tracking Unique Identifier")
ALGORITHM_PARAMETERS = Code(c.DCM, "111002", "Algorithm Parameters")
ORIGINAL_SOURCE = Code(c.DCM, "111040", "Original Source")
SOURCE = Code(c.SNOMED, "260753009", "Source")
SOURCE_IMAGE_FOR_SEGMENTATION = "121233"

# ImagingSelection.code and dicom-sr profile of each region kind (sr-mapping.md §3.1)
REGION_SHAPES: dict[RegionKind, tuple[Code, str | None]] = {
    RegionKind.IMAGE_REGION_2D: (Code(c.DCM, "111030", "Image Region"), DICOM_SR + "image-region-2d"),
    RegionKind.IMAGE_REGION_3D: (Code(c.DCM, "111030", "Image Region"), DICOM_SR + "image-region-3d"),
    RegionKind.REFERENCED_SEGMENT: (Code(c.DCM, "121191", "Referenced Segment"), DICOM_SR + "referenced-segment"),
    RegionKind.REFERENCED_SEGMENTATION_FRAME: (
        Code(c.DCM, "121214", "Referenced Segmentation Frame"),
        DICOM_SR + "referenced-segmentation-frame",
    ),
    RegionKind.REGION_IN_SPACE: (Code(c.DCM, "130488", "Region In Space"), DICOM_SR + "region-in-space"),
    RegionKind.VOLUME_SURFACE: (Code(c.DCM, "121231", "Volume Surface"), DICOM_SR + "volume-surface"),
    RegionKind.REAL_WORLD_VALUE_MAP: (
        Code(c.DCM, "126100", "Real World Value Map used for measurement"),
        DICOM_SR + "real-world-value-map",
    ),
    RegionKind.ILLUSTRATION_OF_ROI: (Code(c.DCM, "121200", "Illustration of ROI"), DICOM_SR + "illustration-of-roi"),
    RegionKind.VISUAL_EXPLANATION: (Code(c.DCM, "130401", "Visual Explanation"), DICOM_SR + "visual-explanation"),
    RegionKind.SOURCE_IMAGE: (SOURCE, None),
}
# SCOORD Graphic Type -> R5 imagingselection-2dgraphictype
REGION_TYPES_2D = {"POINT": "point", "POLYLINE": "polyline", "CIRCLE": "circle", "ELLIPSE": "ellipse",
                   "MULTIPOINT": "point"}
# Coding.display is left out for these systems: DICOM Code Meanings are not their official displays (§0.1)
_NO_DISPLAY_SYSTEMS = (c.LOINC, c.SNOMED)


def measurement_placement(ctx: ContentContext) -> Placement:
    """Resources for the TID 1500 content of ``ctx.report``: groups with their members, report-level qualitative
    evaluations, region selections, finding-site BodyStructures and algorithm / device-observer Devices."""
    return _Builder(ctx).build()


def coded(code: Code, text: str | None = None) -> CodeableConcept:
    """A CodeableConcept from a DICOM code: the Code Meaning as ``text`` (and display only where it is one)."""
    display = None if code.system in _NO_DISPLAY_SYSTEMS else code.display
    return CodeableConcept(coding=[Coding(system=code.system, code=code.code, display=display)],
                           text=text or code.display)


def quantity_fields(quantity: Quantity) -> dict[str, object]:
    """``valueQuantity`` (UCUM system and code only for UCUM units), or ``dataAbsentReason`` without a value."""
    if quantity.value is None:
        return {"dataAbsentReason": coded(Code(c.DATA_ABSENT_REASON, quantity.absent_reason or "unknown"))}
    return {
        "valueQuantity": FhirQuantity(
            value=Decimal(quantity.value),
            unit=quantity.unit,
            system=UCUM if quantity.ucum else None,
            code=quantity.ucum,
        )
    }


def measurement_name(measurement: Measurement) -> str:
    """The concept meaning, with the derivation when there is one: "SUVbw (Mean)"."""
    name = measurement.concept.display or measurement.concept.code
    if measurement.derivation is not None:
        return f"{name} ({measurement.derivation.display or measurement.derivation.code})"
    return name


class _Builder:
    def __init__(self, ctx: ContentContext) -> None:
        self.ctx = ctx
        self.report = ctx.report
        self.sop = ctx.report.sop_instance_uid
        self.placement = Placement()
        self._ids: set[tuple[str, str]] = set()
        self.patient = reference("Patient", ctx.patient_id)
        self.study = reference("ImagingStudy", ctx.imaging_study_id)
        self.default_device: Reference | None = None
        self.algorithm_devices: dict[Algorithm, Reference] = {}
        self.host_device: Reference | None = None

    # -- plumbing ---------------------------------------------------------------------------------------------

    def add(self, resource: Observation | ImagingSelection | BodyStructure | Device) -> Reference:
        resource_type = resource.get_resource_type()
        assert resource.id is not None
        if (resource_type, resource.id) not in self._ids:
            self._ids.add((resource_type, resource.id))
            self.placement.resources.append(resource)
        return reference(resource_type, resource.id)

    def issued(self, observed_at: DicomDateTime | None) -> str | None:
        """Observation DateTime of the item, else the report's Content Date/Time (else the study start)."""
        when = observed_at or self.report.content_datetime or self.ctx.study.started
        return instant(when, self.ctx.settings) if when is not None else None

    def common(self, observed_at: DicomDateTime | None) -> dict[str, object]:
        return {
            "status": self.ctx.observation_status,
            "basedOn": list(self.ctx.based_on) or None,
            "subject": self.patient,
            "issued": self.issued(observed_at),
        }

    def base_sources(self) -> list[Reference]:
        refs = [self.study]
        if self.ctx.sr_selection_id is not None:
            refs.append(reference("ImagingSelection", self.ctx.sr_selection_id))
        return refs

    # -- the placement ----------------------------------------------------------------------------------------

    def build(self) -> Placement:
        content = self.report.content
        if not content.groups and not content.evaluations:
            return self.placement
        self.devices()
        plain_groups: list[Reference] = []
        for group in (g for g in content.groups if not g.derived):
            plain_groups.append(self.group(group, ()))
        for group in (g for g in content.groups if g.derived):
            self.group(group, tuple(plain_groups))
        evaluations = [self.evaluation(e, None, [], self.default_device, report_level=True)
                       for e in content.evaluations]
        if content.evaluations:
            self.placement.add_narrative(EuSection.FINDINGS, "Qualitative evaluations: " + "; ".join(
                _evaluation_text(e) for e in content.evaluations))
        for ref in evaluations:
            self.placement.results.append(ref)
            self.placement.add_entry(EuSection.FINDINGS, ref)
        return self.placement

    def devices(self) -> None:
        """Devices of the root device observers (TID 1002) and of the algorithms (TID 4019) running on them."""
        for index, observer in enumerate(self.report.device_observers, start=1):
            ref = self.add(self.observer_device(observer, index))
            self.default_device = self.default_device or ref
        self.host_device = self.default_device  # an algorithm's ``parent``: the device it ran on
        for algorithm in self.report.content.algorithms:
            self.algorithm_device(algorithm)
        if self.default_device is None and len(self.algorithm_devices) == 1:
            self.default_device = next(iter(self.algorithm_devices.values()))

    def algorithm_device(self, algorithm: Algorithm) -> Reference:
        if algorithm in self.algorithm_devices:
            return self.algorithm_devices[algorithm]
        device = Device(
            id=resource_id("Device", self.sop, "algorithm", algorithm.name, algorithm.version or ""),
            meta=Meta(profile=[PROFILE_ALGORITHM]),
            displayName=algorithm.name,
            version=[DeviceVersion(value=algorithm.version)] if algorithm.version else None,
            property=[DeviceProperty(type=coded(ALGORITHM_PARAMETERS), valueString=p) for p in algorithm.parameters]
            or None,
            type=[coded(algorithm.family)] if algorithm.family is not None else None,
            parent=self.host_device,
        )
        ref = self.add(device)
        self.algorithm_devices[algorithm] = ref
        return ref

    def observer_device(self, observer: DeviceObserver, index: int) -> Device:
        key = observer.uid or f"{self.sop}|{index}"
        return Device(
            id=resource_id("Device", "device-observer", key),
            meta=Meta(profile=[PROFILE_PARTICIPANT_DEVICE]),
            identifier=[dicom_uid_identifier(observer.uid)] if observer.uid else None,
            name=[DeviceName(value=observer.name, type="user-friendly-name")] if observer.name else None,
            manufacturer=observer.manufacturer,
            modelNumber=observer.model_name,
            serialNumber=observer.serial_number,
            location=Reference(display=observer.location) if observer.location else None,
        )

    # -- groups and members -----------------------------------------------------------------------------------

    def group(self, group: MeasurementGroup, derived_from_groups: tuple[Reference, ...]) -> Reference:
        group_id = resource_id("Observation", self.sop, group.path, "measurement-group")
        regions = [self.selection(region) for region in group.regions]
        sites = self.sites(group.finding_sites, group.path, group.tracking_identifier, group.tracking_uid)
        device = self.algorithm_device(group.algorithm) if group.algorithm is not None else self.default_device
        members: list[Reference] = []
        for measurement in group.measurements:
            members.append(self.measurement(measurement, group, regions, sites, device, derived_from_groups))
        for evaluation in group.evaluations:
            members.append(self.evaluation(evaluation, group, regions, device))
        identifiers = self.identifiers(group.observation_uid, group.tracking_uid)
        categories = [coded(MEASUREMENT_GROUP)]
        if group.derived:
            categories.append(coded(DERIVED_IMAGING_MEASUREMENTS))
        code = group.finding_category or MEASUREMENT_GROUP
        observation = Observation(
            id=group_id,
            meta=Meta(profile=[c.PROFILE_FINDING, PROFILE_GROUP]),
            identifier=identifiers or None,
            category=categories,
            code=coded(code),
            valueCodeableConcept=coded(group.finding_type) if group.finding_type is not None else None,
            method=coded(group.method) if group.method is not None else None,
            device=device,
            hasMember=members or None,
            derivedFrom=[*self.base_sources(), *regions, *self.source_item(group.path, group.observation_uid)],
            note=[Annotation(text=n) for n in group.notes] or None,
            **sites,
            **self.common(group.observed_at),
        )
        ref = self.add(observation)
        self.placement.results.append(ref)
        self.placement.add_entry(EuSection.FINDINGS, ref)
        self.placement.idr.append((c.EXT_IDR_FINDING, ref))
        self.placement.add_narrative(EuSection.FINDINGS, _group_line(group))
        return ref

    def measurement(
        self,
        measurement: Measurement,
        group: MeasurementGroup,
        group_regions: list[Reference],
        group_sites: dict[str, object],
        device: Reference | None,
        derived_from_groups: tuple[Reference, ...],
    ) -> Reference:
        own_regions = [self.selection(region) for region in measurement.regions]
        sites = (self.sites(measurement.finding_sites, measurement.path, None, measurement.tracking_uid)
                 if measurement.finding_sites else group_sites)
        method = measurement.method or group.method
        component = None
        if measurement.derivation is not None:  # not mapped by HL7 dicom-sr; project rule of sr-mapping.md §3.2
            derivation = coded(measurement.derivation)
            component = [ObservationComponent(code=coded(DERIVATION), valueCodeableConcept=derivation)]
        profile = PROFILE_DERIVED_MEASUREMENT if group.derived else PROFILE_MEASUREMENT
        observation = Observation(
            id=resource_id("Observation", self.sop, measurement.path, "measurement"),
            meta=Meta(profile=[profile]),
            identifier=self.identifiers(measurement.observation_uid, measurement.tracking_uid) or None,
            category=[coded(DERIVED_IMAGING_MEASUREMENTS)] if group.derived else None,
            code=coded(measurement.concept, text=measurement_name(measurement)),
            method=coded(method) if method is not None else None,
            device=device,
            interpretation=[coded(code) for code in measurement.interpretations] or None,
            component=component,
            derivedFrom=[
                *self.base_sources(),
                *derived_from_groups,
                *group_regions,
                *own_regions,
                *self.source_item(measurement.path, measurement.observation_uid),
            ],
            **quantity_fields(measurement.quantity),
            **sites,
            **self.common(measurement.observed_at or group.observed_at),
        )
        return self.add(observation)

    def evaluation(
        self,
        evaluation: QualitativeEvaluation,
        group: MeasurementGroup | None,
        regions: list[Reference],
        device: Reference | None,
        report_level: bool = False,
    ) -> Reference:
        value = coded(evaluation.value) if evaluation.value is not None else CodeableConcept(text=evaluation.text)
        profiles = [c.PROFILE_FINDING, PROFILE_QUALITATIVE_EVALUATION] if report_level else [
            PROFILE_QUALITATIVE_EVALUATION]
        observation = Observation(
            id=resource_id("Observation", self.sop, evaluation.path, "qualitative-evaluation"),
            meta=Meta(profile=profiles),
            identifier=self.identifiers(evaluation.observation_uid, None) or None,
            category=[coded(QUALITATIVE_EVALUATIONS)],
            code=coded(evaluation.concept),
            valueCodeableConcept=value,
            device=device,
            derivedFrom=[*self.base_sources(), *regions,
                         *self.source_item(evaluation.path, evaluation.observation_uid)],
            **self.common(group.observed_at if group is not None else None),
        )
        return self.add(observation)

    def identifiers(self, observation_uid: str | None, tracking_uid: str | None) -> list[Identifier]:
        identifiers = []
        if observation_uid:
            identifiers.append(dicom_uid_identifier(observation_uid, c.OBSERVATION_UID_TYPE))
        if tracking_uid:
            identifiers.append(dicom_uid_identifier(tracking_uid, TRACKING_UID))
        return identifiers

    def sites(self, sites: tuple[FindingSite, ...], path: str, tracking_identifier: str | None,
              tracking_uid: str | None) -> dict[str, object]:
        """``bodySite`` for one plain finding site; a ``bodyStructure`` when sites carry laterality or modifiers
        (or there are several: Observation.bodySite holds one)."""
        if not sites:
            return {}
        if len(sites) == 1 and sites[0].laterality is None and not sites[0].modifiers:
            return {"bodySite": coded(sites[0].site)}
        identifiers = []
        if tracking_identifier:
            identifiers.append(Identifier(type=coded(TRACKING_IDENTIFIER), value=tracking_identifier))
        if tracking_uid:
            identifiers.append(dicom_uid_identifier(tracking_uid, TRACKING_UID))
        structure = BodyStructure(
            id=resource_id("BodyStructure", self.sop, path, "finding-site"),
            meta=Meta(profile=[PROFILE_FINDING_SITE]),
            identifier=identifiers or None,
            includedStructure=[
                BodyStructureIncludedStructure(
                    structure=coded(site.site),
                    laterality=coded(site.laterality) if site.laterality is not None else None,
                    qualifier=[coded(m) for m in site.modifiers] or None,
                )
                for site in sites
            ],
            patient=self.patient,
        )
        return {"bodyStructure": self.add(structure)}

    # -- selections -------------------------------------------------------------------------------------------

    def selection(self, region: Region) -> Reference:
        code, profile = REGION_SHAPES[region.kind]
        if region.kind is RegionKind.SOURCE_IMAGE and region.concept is not None:
            code = region.concept
            if region.concept.code == SOURCE_IMAGE_FOR_SEGMENTATION and region.concept.system == c.DCM:
                profile = DICOM_SR + "source-image-for-segmentation"
        images = region.images
        series = {ref.series_instance_uid for ref in images}
        studies = {ref.study_instance_uid for ref in images if ref.study_instance_uid}
        selection = ImagingSelection(
            id=resource_id("ImagingSelection", self.sop, region.path, region.kind.value),
            meta=Meta(profile=[profile]) if profile else None,
            status="available",
            subject=self.patient,
            code=coded(code),
            studyUid=studies.pop() if len(studies) == 1 else self.report.study_instance_uid,
            seriesUid=series.pop() if len(series) == 1 and None not in series else None,
            frameOfReferenceUid=region.frame_of_reference_uid,
            instance=[_instance(region, ref) for ref in images] or None,
            derivedFrom=[self.study],
        )
        return self.add(selection)

    def source_item(self, path: str, observation_uid: str | None) -> list[Reference]:
        """The ``source-sr-content-item`` selection of an item with an Observation UID (subset = that UID)."""
        if not observation_uid:
            return []
        selection = ImagingSelection(
            id=resource_id("ImagingSelection", self.sop, path, "source-sr-content-item"),
            meta=Meta(profile=[PROFILE_SOURCE_SR_CONTENT_ITEM]),
            status="available",
            subject=self.patient,
            code=coded(ORIGINAL_SOURCE),
            studyUid=self.report.study_instance_uid,
            seriesUid=self.report.series_instance_uid or None,
            instance=[ImagingSelectionInstance(uid=self.sop, sopClass=_sop_class(self.report.sop_class_uid),
                                               subset=[observation_uid])],
            derivedFrom=[self.study],
        )
        return [self.add(selection)]


def _sop_class(uid: str) -> Coding | None:
    return Coding(system=c.URN_RFC3986, code=f"urn:oid:{uid}") if uid else None


def _instance(region: Region, ref: ImageReference) -> ImagingSelectionInstance:
    if region.kind is RegionKind.REFERENCED_SEGMENT:
        subset = [str(n) for n in ref.segments]
    else:
        subset = [str(n) for n in ref.frames]
    return ImagingSelectionInstance(
        uid=ref.sop_instance_uid,
        sopClass=_sop_class(ref.sop_class_uid),
        subset=subset or None,
        imageRegion2D=_regions_2d(region) if region.kind is RegionKind.IMAGE_REGION_2D else None,
    )


def _regions_2d(region: Region) -> list[ImagingSelectionInstanceImageRegion2D] | None:
    """Graphic Type lower-cased, Graphic Data unchanged; MULTIPOINT becomes one point per pair (§3.2)."""
    region_type = REGION_TYPES_2D.get((region.graphic_type or "").upper())
    if region_type is None or not region.coordinates:
        return None
    coordinates = [Decimal(repr(v)) for v in region.coordinates]
    if (region.graphic_type or "").upper() == "MULTIPOINT":
        return [ImagingSelectionInstanceImageRegion2D(regionType="point", coordinate=coordinates[i:i + 2])
                for i in range(0, len(coordinates) - 1, 2)]
    return [ImagingSelectionInstanceImageRegion2D(regionType=region_type, coordinate=coordinates)]


def _value_text(measurement: Measurement) -> str:
    quantity = measurement.quantity
    if quantity.value is None:
        return f"no value ({quantity.absent_reason or 'unknown'})"
    unit = quantity.ucum or quantity.unit
    return f"{quantity.value} {unit}" if unit and unit != "1" else quantity.value


def _evaluation_text(evaluation: QualitativeEvaluation) -> str:
    value = (evaluation.value.display or evaluation.value.code) if evaluation.value is not None else evaluation.text
    return f"{evaluation.concept.display or evaluation.concept.code}: {value}"


def _site_text(site: FindingSite) -> str:
    words = [site.site.display or site.site.code]
    words += [code.display or code.code for code in (site.laterality, *site.modifiers) if code is not None]
    return ", ".join(words)


def _group_line(group: MeasurementGroup) -> str:
    """One readable line: "Nodule (Lung): Diameter 10.0 mm; Level of Significance: Not significant"."""
    label = ((group.finding_type.display or group.finding_type.code) if group.finding_type is not None
             else group.tracking_identifier or "Measurement group")
    sites = "; ".join(_site_text(s) for s in group.finding_sites)
    head = f"{label} ({sites})" if sites else label
    parts = [f"{measurement_name(m)} {_value_text(m)}" for m in group.measurements]
    parts += [_evaluation_text(e) for e in group.evaluations]
    return f"{head}: {'; '.join(parts)}" if parts else head


__all__ = ["coded", "measurement_name", "measurement_placement", "quantity_fields"]
