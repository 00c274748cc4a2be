"""build_kos(): the DICOM KOS form of a manifest plan, MADO "Manifest with Description" (mado.md §2).

The header is built with pydicom, the content tree (TID 2010 + the Image Library of TID 1600/1601/1602/16XX as
MADO constrains it) with highdicom's content items. Everything comes from the plan: no clock, no random UID, series
ordered by Series Number then UID and instances by Instance Number then UID, so the same plan always gives the same
bytes. What the plan could not fill (no Retrieve Location UID, no patient issuer OID, ...) is already in
``plan.findings``: the writer leaves it out and does not raise.

Choices the specification leaves open:

* the manifest's own series has Series Number ``MANIFEST_SERIES_NUMBER`` (9999) in every revision, like its
  Series Instance UID, and Instance Number 1;
* Institution Name (0008,0080) is HL7 v2 XON (``name^^^^^^^^^OID``) when the creator has an institution OID and
  the result fits LO (64 characters), else the plain name;
* Content Date/Time is ``plan.created`` (a date without time gets Content Time 000000);
* the value type of an entry follows ``reference_value_type()``; (121140) Number of Frames is written for
  instances with more than one frame (the same rule as the FHIR manifest's number-of-frames extension);
* an Image Library Group's Target Region is CODE from the series' SNOMED CT body site, else TEXT with Body
  Part Examined, else absent;
* codes whose FHIR system maps back to no DICOM coding scheme designator are left out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import highdicom.sr as hsr
from pydicom import dcmwrite
from pydicom.datadict import add_dict_entries, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr import _concepts_dict
from pydicom.uid import UID, ExplicitVRLittleEndian

from bridge.extract.sr import mado as concepts
from bridge.extract.values import PRIVATE_SCHEME_BASE, SCHEME_SYSTEMS
from bridge.model import Code, DicomDateTime, PersonName
from bridge.model.manifest import ManifestPlan, RequestedProcedure, RetrieveSite, ordered_instances, ordered_series
from bridge.model.study import Instance, Issuer, ObjectKind, Series

KEY_OBJECT_SELECTION_STORAGE = "1.2.840.10008.5.1.4.1.1.88.59"
MANIFEST_SERIES_NUMBER = 9999
MANIFEST_SERIES_DESCRIPTION = "MADO Manifest"
SPECIFIC_CHARACTER_SET = "ISO_IR 192"

DISPLAY_URI_TAG = 0x0040E012  # Display URI (UR), CP-2595; pydicom 3.0 does not know it yet
if not keyword_for_tag(DISPLAY_URI_TAG):
    add_dict_entries({DISPLAY_URI_TAG: ("UR", "1", "Display URI", "", "DisplayURI")})

_HAS_ACQ_CONTEXT = hsr.RelationshipTypeValues.HAS_ACQ_CONTEXT
_CONTAINS = hsr.RelationshipTypeValues.CONTAINS
_HAS_CONCEPT_MOD = hsr.RelationshipTypeValues.HAS_CONCEPT_MOD

PROCEDURE_CODE = hsr.CodedConcept("121023", "DCM", "Procedure Code")
UNIT_SERIES = hsr.CodedConcept("{series}", "UCUM", "series")
UNIT_INSTANCES = hsr.CodedConcept("{instances}", "UCUM", "instances")
UNIT_FRAMES = hsr.CodedConcept("{frames}", "UCUM", "frames")
_CONTENT_SEQUENCE_TAG = 0x0040A730

# Storage SOP classes that are images although "Image Storage" is not in their name (value type IMAGE)
_IMAGE_CLASSES_BY_UID = frozenset({
    "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume Storage
    "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map Storage
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation Storage
    "1.2.840.10008.5.1.4.1.1.81.1",  # Ophthalmic Thickness Map Storage
    "1.2.840.10008.5.1.4.1.1.82.1",  # Corneal Topography Map Storage
})

_OID = re.compile(r"[0-9]+(?:\.[0-9]+)+")
_SYSTEM_SCHEMES = {system: scheme for scheme, system in SCHEME_SYSTEMS.items()}


def reference_value_type(sop_class_uid: str, kind: ObjectKind | None = None) -> str:
    """IMAGE, WAVEFORM or COMPOSITE: the value type of a manifest entry for an instance of ``sop_class_uid``.

    By pydicom's UID dictionary: a "... Waveform Storage" class is WAVEFORM; an "... Image Storage" class or one
    of ``_IMAGE_CLASSES_BY_UID`` is IMAGE; every other known class (SR, KOS, presentation states, encapsulated
    documents, RT objects, raw data, ...) is COMPOSITE. A class pydicom does not know (private) is IMAGE when the
    bridge read it as an image (it has Rows), else COMPOSITE.
    """
    uid = UID(sop_class_uid)
    if uid.name == str(uid):  # not in the dictionary
        return "IMAGE" if kind is ObjectKind.IMAGE else "COMPOSITE"
    if "Waveform Storage" in uid.name:
        return "WAVEFORM"
    if "Image Storage" in uid.name or str(uid) in _IMAGE_CLASSES_BY_UID:
        return "IMAGE"
    return "COMPOSITE"


def build_kos(plan: ManifestPlan) -> FileDataset:
    """The MADO KOS manifest of ``plan.study`` (mado.md §2), as a PS3.10 dataset in Explicit VR Little Endian."""
    series = ordered_series(plan.study.series)
    ds = Dataset()
    ds.SpecificCharacterSet = SPECIFIC_CHARACTER_SET
    ds.SOPClassUID = KEY_OBJECT_SELECTION_STORAGE
    ds.SOPInstanceUID = plan.sop_instance_uid
    ds.TimezoneOffsetFromUTC = plan.timezone_offset
    _patient(ds, plan)
    _study(ds, plan)
    # Key Object Document Series (PS3.3 C.17.6.1)
    ds.Modality = "KO"
    ds.SeriesInstanceUID = plan.series_instance_uid
    ds.SeriesNumber = MANIFEST_SERIES_NUMBER
    ds.SeriesDescription = MANIFEST_SERIES_DESCRIPTION
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence()
    # General Equipment: the manifest creator
    ds.Manufacturer = plan.creator.manufacturer
    ds.InstitutionName = institution_name(plan.creator.institution_name, plan.creator.institution_oid)
    if plan.creator.software_version:
        ds.SoftwareVersions = plan.creator.software_version
    # Key Object Document (PS3.3 C.17.6.2)
    ds.InstanceNumber = 1
    ds.ContentDate = _da(plan.created)
    ds.ContentTime = _tm(plan.created) or "000000"
    if plan.requests:
        ds.ReferencedRequestSequence = DicomSequence(
            [_request(r, plan.study.study_instance_uid) for r in plan.requests])
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([_evidence(plan, series)])
    if plan.display_uri:
        ds.DisplayURI = plan.display_uri
    ds.update(_content(plan, series))

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = KEY_OBJECT_SELECTION_STORAGE
    meta.MediaStorageSOPInstanceUID = plan.sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return FileDataset("", ds, file_meta=meta, preamble=b"\x00" * 128)


def kos_bytes(plan: ManifestPlan) -> bytes:
    """The KOS manifest of ``plan`` as the bytes of a PS3.10 file."""
    buffer = BytesIO()
    kos = build_kos(plan)
    _as_encoded(kos)
    dcmwrite(buffer, kos, enforce_file_format=True)
    return buffer.getvalue()


def _as_encoded(ds: Dataset) -> None:
    """Mark ``ds`` and every item in it as already in the encoding it is written in (explicit VR little endian, its
    own character set). pydicom otherwise runs its ambiguous-VR correction over each item's whole subtree every time
    it writes an item: quadratic in the depth of the content tree, and most of the time spent writing a manifest of
    a few thousand instances. The KOS holds no element of ambiguous VR (no US/SS or OB/OW lookup tables), so there is
    nothing to correct."""
    stack = [ds]
    while stack:
        current = stack.pop()
        current.set_original_encoding(False, True, current._character_set)
        for element in current.values():
            if getattr(element, "VR", None) == "SQ":
                stack.extend(element.value)


def write_kos(plan: ManifestPlan, path: Path) -> Path:
    """Write the KOS manifest of ``plan`` to ``path`` (a PS3.10 file; replaced atomically) and return ``path``."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(kos_bytes(plan))
    os.replace(partial, path)
    return path




def institution_name(name: str, oid: str | None) -> str:
    """Institution Name (0008,0080): HL7 v2 XON with the organization identifier when it fits LO, else the name."""
    if oid:
        xon = f"{name}^^^^^^^^^{oid}"
        if len(xon) <= 64:
            return xon
    return name


def dicom_code(code: Code) -> hsr.CodedConcept | None:
    """A Code as a DICOM coded concept: its FHIR system mapped back to the coding scheme designator, or None."""
    scheme = _SYSTEM_SCHEMES.get(code.system)
    if scheme is None and code.system.startswith(PRIVATE_SCHEME_BASE):
        scheme = code.system.removeprefix(PRIVATE_SCHEME_BASE)
        if scheme == "unknown":  # the source item had no Coding Scheme Designator
            return None
    if not scheme or not code.code:
        return None
    return hsr.CodedConcept(code.code, scheme, code.display or code.code)


@lru_cache(maxsize=1)
def _modality_meanings() -> dict[str, str]:
    """DCM code -> meaning for CID 29 (acquisition modality), 32 (modality) and 33 (modality), from pydicom."""
    found: dict[str, str] = {}
    for by_code in _concepts_dict.concepts["DCM"].values():
        for value, (meaning, cids) in by_code.items():
            if {29, 32, 33} & set(cids):
                found.setdefault(value, meaning)
    return found


def modality_code(modality: str) -> hsr.CodedConcept:
    """(modality, DCM, meaning) with the CID 29/32/33 meaning, else the modality itself as meaning."""
    return hsr.CodedConcept(modality, "DCM", _modality_meanings().get(modality, modality))


# -- header --------------------------------------------------------------------------------------------------------


def _patient(ds: Dataset, plan: ManifestPlan) -> None:
    """Patient module with the MADO issuer qualifiers and Other Patient IDs Sequence (mado.md §2.2)."""
    patient = plan.study.patient
    ds.PatientName = _pn(patient.name)
    ds.PatientID = patient.patient_id or ""
    local_issuer = patient.issuer.local_id if patient.issuer else None
    if local_issuer:
        ds.IssuerOfPatientID = local_issuer
    if plan.patient_issuer_oid:
        ds.IssuerOfPatientIDQualifiersSequence = DicomSequence([_universal(plan.patient_issuer_oid)])
    ds.PatientBirthDate = (patient.birth_date or "").replace("-", "")
    ds.PatientSex = patient.sex or ""
    if plan.patient_issuer_oid and patient.patient_id:
        other = Dataset()
        other.PatientID = patient.patient_id
        if local_issuer:
            other.IssuerOfPatientID = local_issuer
        other.IssuerOfPatientIDQualifiersSequence = DicomSequence([_universal(plan.patient_issuer_oid)])
        other.TypeOfPatientID = "TEXT"
        ds.OtherPatientIDsSequence = DicomSequence([other])


def _study(ds: Dataset, plan: ManifestPlan) -> None:
    """General Study module; the accession rule of mado.md §7 item 12."""
    study = plan.study
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = _da(study.started) if study.started else ""
    ds.StudyTime = (_tm(study.started) or "") if study.started else ""
    ds.ReferringPhysicianName = _pn(study.referring_physician)
    ds.StudyID = study.study_id or ""
    if study.study_description:
        ds.StudyDescription = study.study_description
    accession = plan.accession_number
    ds.AccessionNumber = accession or ""
    if accession:
        issuer = next((r.issuer for r in plan.requests if r.accession_number == accession and r.issuer), None)
        item = _hierarchic_designator(issuer)
        if item is not None:
            ds.IssuerOfAccessionNumberSequence = DicomSequence([item])


def _request(request: RequestedProcedure, study_uid: str) -> Dataset:
    """One Referenced Request Sequence item, with the DICOM Type 2 members present (empty when unknown)."""
    item = Dataset()
    item.StudyInstanceUID = study_uid
    item.ReferencedStudySequence = DicomSequence()
    item.AccessionNumber = request.accession_number
    issuer = _hierarchic_designator(request.issuer)
    if issuer is not None:
        item.IssuerOfAccessionNumberSequence = DicomSequence([issuer])
    item.PlacerOrderNumberImagingServiceRequest = request.placer_order_number or ""
    placer = _hierarchic_designator(request.placer_issuer)
    if placer is not None:
        item.OrderPlacerIdentifierSequence = DicomSequence([placer])
    item.FillerOrderNumberImagingServiceRequest = ""
    item.RequestedProcedureID = request.requested_procedure_id or ""
    item.RequestedProcedureDescription = request.description or ""
    first_code = next((c for c in (dicom_code(code) for code in request.procedure_codes) if c is not None), None)
    item.RequestedProcedureCodeSequence = DicomSequence([first_code] if first_code is not None else [])
    return item


def _evidence(plan: ManifestPlan, series: Sequence[Series]) -> Dataset:
    """The single study item of the Current Requested Procedure Evidence Sequence: every shared instance."""
    study_item = Dataset()
    study_item.StudyInstanceUID = plan.study.study_instance_uid
    if plan.display_uri:
        study_item.DisplayURI = plan.display_uri
    items = []
    for s in series:
        site = plan.retrieve.get(s.series_instance_uid, RetrieveSite())
        item = Dataset()
        item.SeriesInstanceUID = s.series_instance_uid
        if site.retrieve_location_uid:
            item.RetrieveLocationUID = site.retrieve_location_uid
        if site.wado_rs_base_url:
            item.RetrieveURL = site.wado_rs_base_url
        if site.retrieve_ae_title:
            item.RetrieveAETitle = site.retrieve_ae_title
        refs = []
        for instance in ordered_instances(s.instances):
            ref = Dataset()
            ref.ReferencedSOPClassUID = instance.sop_class_uid
            ref.ReferencedSOPInstanceUID = instance.sop_instance_uid
            refs.append(ref)
        item.ReferencedSOPSequence = DicomSequence(refs)
        items.append(item)
    study_item.ReferencedSeriesSequence = DicomSequence(items)
    return study_item


# -- content tree --------------------------------------------------------------------------------------------------


def _content(plan: ManifestPlan, series: Sequence[Series]) -> hsr.ContainerContentItem:
    """The root CONTAINER with its procedure codes, the Image Library and the flat list of entries."""
    root = hsr.ContainerContentItem(
        _concept(concepts.MANIFEST_WITH_DESCRIPTION), is_content_continuous=False, template_id="2010")
    items: list[hsr.ContentItem] = [
        hsr.CodeContentItem(PROCEDURE_CODE, code, _HAS_CONCEPT_MOD)
        for code in (dicom_code(c) for c in plan.procedure_codes) if code is not None
    ]
    items.append(_image_library(plan, series))
    items.extend(_reference(instance, _CONTAINS) for s in series for instance in ordered_instances(s.instances))
    _set_content(root, items)
    return root


def _image_library(plan: ManifestPlan, series: Sequence[Series]) -> hsr.ContainerContentItem:
    """Image Library (111028): study descriptors (table A), then one Image Library Group per series."""
    library = hsr.ContainerContentItem(
        _concept(concepts.IMAGE_LIBRARY), is_content_continuous=False, relationship_type=_CONTAINS)
    items: list[hsr.ContentItem] = [
        hsr.CodeContentItem(_concept(concepts.MODALITY), modality_code(m), _HAS_ACQ_CONTEXT)
        for m in sorted({s.modality for s in series if s.modality})
    ]
    items.extend(
        hsr.CodeContentItem(_concept(concepts.TARGET_REGION), code, _HAS_ACQ_CONTEXT)
        for code in (dicom_code(c) for c in plan.target_regions) if code is not None
    )
    items.append(_count(concepts.STUDY_RELATED_SERIES, len(series), UNIT_SERIES))
    items.extend(_group(plan, s) for s in series)
    library.ContentSequence = items
    return library


def _group(plan: ManifestPlan, series: Series) -> hsr.ContainerContentItem:
    """Image Library Group (126200): the series descriptors of table B, then its entries."""
    group = hsr.ContainerContentItem(
        _concept(concepts.IMAGE_LIBRARY_GROUP), is_content_continuous=False, relationship_type=_CONTAINS)
    items: list[hsr.ContentItem] = []
    if series.modality:
        items.append(hsr.CodeContentItem(_concept(concepts.MODALITY), modality_code(series.modality),
                                         _HAS_ACQ_CONTEXT))
    if series.started is not None:
        items.append(hsr.DateContentItem(_concept(concepts.SERIES_DATE), _da(series.started), _HAS_ACQ_CONTEXT))
        clock = _tm(series.started)
        if clock:
            items.append(hsr.TimeContentItem(_concept(concepts.SERIES_TIME), clock, _HAS_ACQ_CONTEXT))
    if series.series_description:
        items.append(hsr.TextContentItem(_concept(concepts.SERIES_DESCRIPTION), series.series_description,
                                         _HAS_ACQ_CONTEXT))
    if series.series_number is not None:
        items.append(hsr.TextContentItem(_concept(concepts.SERIES_NUMBER), str(series.series_number),
                                         _HAS_ACQ_CONTEXT))
    items.append(hsr.UIDRefContentItem(_concept(concepts.SERIES_INSTANCE_UID), series.series_instance_uid,
                                       _HAS_ACQ_CONTEXT))
    region = dicom_code(series.body_site) if series.body_site else None
    if region is not None:
        items.append(hsr.CodeContentItem(_concept(concepts.TARGET_REGION), region, _HAS_ACQ_CONTEXT))
    elif series.body_part_examined:
        items.append(hsr.TextContentItem(_concept(concepts.TARGET_REGION), series.body_part_examined,
                                         _HAS_ACQ_CONTEXT))
    laterality = dicom_code(series.laterality) if series.laterality else None
    if laterality is not None:
        items.append(hsr.CodeContentItem(_concept(concepts.IMAGE_LATERALITY), laterality, _HAS_ACQ_CONTEXT))
    instances = ordered_instances(series.instances)
    items.append(_count(concepts.SERIES_RELATED_INSTANCES, len(instances), UNIT_INSTANCES))
    items.extend(_entry(plan, instance) for instance in instances)
    _set_content(group, items)
    return group


def _entry(plan: ManifestPlan, instance: Instance) -> Dataset:
    """An Image Library entry: the reference with its descriptors (tables C and D) as HAS ACQ CONTEXT children."""
    entry = _reference(instance, _CONTAINS)
    children: list[Dataset] = []
    if instance.instance_number is not None:
        children.append(_instance_number(instance.instance_number))
    if instance.number_of_frames is not None and instance.number_of_frames > 1:
        children.append(_count(concepts.NUMBER_OF_FRAMES, instance.number_of_frames, UNIT_FRAMES))
    key_object = plan.key_objects.get(instance.sop_instance_uid)
    if key_object is not None:
        title = dicom_code(key_object.title)
        if title is not None:
            children.append(hsr.CodeContentItem(_concept(concepts.DOCUMENT_TITLE), title, _HAS_ACQ_CONTEXT))
        if key_object.description:
            children.append(hsr.TextContentItem(_concept(concepts.KEY_OBJECT_DESCRIPTION), key_object.description,
                                                _HAS_ACQ_CONTEXT))
    if children:
        entry.ContentSequence = DicomSequence(children)
    return entry


def _count(name: concepts.MadoConcept, value: int, unit: hsr.CodedConcept) -> hsr.NumContentItem:
    """A HAS ACQ CONTEXT NUM count; Numeric Value written as an integer ("20", where highdicom writes "20.0")."""
    item = hsr.NumContentItem(_concept(name), value, unit, relationship_type=_HAS_ACQ_CONTEXT)
    item.MeasuredValueSequence[0].NumericValue = str(value)
    return item


def _reference(instance: Instance, relationship: hsr.RelationshipTypeValues) -> Dataset:
    """An IMAGE/COMPOSITE/WAVEFORM entry: no Concept Name (TID 2010 rows 8-10, TID 1601), one Referenced SOP item.

    Written as plain pydicom items, like highdicom's Image/Composite/WaveformContentItem without their (mandatory
    there) concept name: a manifest holds two of them per instance, and highdicom's validation of each would be
    most of the time spent building the manifest of a large study."""
    reference = Dataset()
    reference.ReferencedSOPClassUID = instance.sop_class_uid
    reference.ReferencedSOPInstanceUID = instance.sop_instance_uid
    item = Dataset()
    item.RelationshipType = relationship.value
    item.ValueType = reference_value_type(instance.sop_class_uid, instance.kind)
    item.ReferencedSOPSequence = DicomSequence([reference])
    return item


def _instance_number(number: int) -> Dataset:
    """The (INSTANCE_NUMBER) TEXT descriptor of an entry, as highdicom's TextContentItem writes it."""
    name = Dataset()
    name.CodeValue = concepts.INSTANCE_NUMBER.final
    name.CodingSchemeDesignator = "DCM"
    name.CodeMeaning = concepts.INSTANCE_NUMBER.meaning
    item = Dataset()
    item.RelationshipType = _HAS_ACQ_CONTEXT.value
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = DicomSequence([name])
    item.TextValue = str(number)
    return item


def _set_content(container: hsr.ContainerContentItem, items: list[Dataset]) -> None:
    """Set ``container``'s Content Sequence to ``items``, plain pydicom items among them. Assigning the attribute
    would have highdicom check that each is one of its ContentItems; the element is set directly instead."""
    container[_CONTENT_SEQUENCE_TAG] = DataElement(_CONTENT_SEQUENCE_TAG, "SQ", DicomSequence(items))


def _concept(concept: concepts.MadoConcept) -> hsr.CodedConcept:
    """The final DCM code of a MADO concept (mado.md §2.1)."""
    return hsr.CodedConcept(concept.final, "DCM", concept.meaning)


# -- values --------------------------------------------------------------------------------------------------------


def _da(value: DicomDateTime) -> str:
    return value.iso.partition("T")[0].replace("-", "")


def _tm(value: DicomDateTime) -> str | None:
    clock = value.iso.partition("T")[2]
    return clock.replace(":", "") or None


def _pn(name: PersonName | None) -> str:
    """A PersonName back to a DICOM PN alphabetic group (family^given^middle^prefix^suffix)."""
    if name is None or name.is_empty:
        return ""
    if not (name.family or name.given):
        return name.text or ""
    parts = [name.family or "", name.given[0] if name.given else "", " ".join(name.given[1:]),
             " ".join(name.prefix), " ".join(name.suffix)]
    return "^".join(parts).rstrip("^")


def _universal(oid: str) -> Dataset:
    item = Dataset()
    item.UniversalEntityID = oid
    item.UniversalEntityIDType = "ISO"
    return item


def _hierarchic_designator(issuer: Issuer | None) -> Dataset | None:
    """An HL7 v2 HD item (Issuer of Accession Number / Order Placer Identifier), or None when nothing is known."""
    if issuer is None or not (issuer.local_id or issuer.universal_id):
        return None
    item = Dataset()
    if issuer.local_id:
        item.LocalNamespaceEntityID = issuer.local_id
    if issuer.universal_id:
        item.UniversalEntityID = issuer.universal_id
        oid = _OID.fullmatch(issuer.universal_id)
        item.UniversalEntityIDType = issuer.universal_id_type or ("ISO" if oid else "URI")
    return item


__all__ = [
    "KEY_OBJECT_SELECTION_STORAGE",
    "MANIFEST_SERIES_NUMBER",
    "build_kos",
    "dicom_code",
    "institution_name",
    "kos_bytes",
    "modality_code",
    "reference_value_type",
    "write_kos",
]
