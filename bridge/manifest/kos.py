"""build_kos(): the DICOM KOS form of a manifest plan, MADO "Manifest with Description" (mado.md §2).

The header is built with pydicom; the content tree (TID 2010 + the Image Library of TID 1600/1601/1602/16XX as
MADO constrains it) and the evidence are plain items encoded by ``encode_items`` (see there). Everything comes
from the plan: no clock, no random UID, series ordered by Series Number then UID and instances by Instance
Number then UID, so the same plan always gives the same bytes. What the plan could not fill (no Retrieve
Location UID, no patient issuer OID, ...) is already in ``plan.findings``: the writer leaves it out and does
not raise.

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
* codes whose FHIR system maps back to no DICOM coding scheme designator are left out; a Code Meaning longer
  than LO's 64 characters is cut to 64.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from pydicom import dcmwrite
from pydicom.datadict import add_dict_entries, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian

from bridge.extract.codes import modality_meaning
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

Element = tuple[int, str, "str | list[Item]"]  # (tag, VR, value): a string, or the items of a sequence
Item = list[Element]

_HAS_ACQ_CONTEXT = "HAS ACQ CONTEXT"
_CONTAINS = "CONTAINS"
_HAS_CONCEPT_MOD = "HAS CONCEPT MOD"

_CODE_VALUE = 0x00080100
_CODING_SCHEME_DESIGNATOR = 0x00080102
_CODE_MEANING = 0x00080104
_LONG_CODE_VALUE = 0x00080119
_URN_CODE_VALUE = 0x00080120
_MAPPING_RESOURCE = 0x00080105
_REFERENCED_SOP_SEQUENCE = 0x00081199
_REFERENCED_SOP_CLASS_UID = 0x00081150
_REFERENCED_SOP_INSTANCE_UID = 0x00081155
_REFERENCED_SERIES_SEQUENCE = 0x00081115
_RETRIEVE_AE_TITLE = 0x00080054
_RETRIEVE_URL = 0x00081190
_STUDY_INSTANCE_UID = 0x0020000D
_SERIES_INSTANCE_UID = 0x0020000E
_RETRIEVE_LOCATION_UID = 0x0040E011
_RELATIONSHIP_TYPE = 0x0040A010
_VALUE_TYPE = 0x0040A040
_CONCEPT_NAME_CODE_SEQUENCE = 0x0040A043
_CONTINUITY_OF_CONTENT = 0x0040A050
_CONCEPT_CODE_SEQUENCE = 0x0040A168
_MEASURED_VALUE_SEQUENCE = 0x0040A300
_MEASUREMENT_UNITS_CODE_SEQUENCE = 0x004008EA
_NUMERIC_VALUE = 0x0040A30A
_CONTENT_SEQUENCE = 0x0040A730
_CONTENT_TEMPLATE_SEQUENCE = 0x0040A504
_TEMPLATE_IDENTIFIER = 0x0040DB00
_CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE = 0x0040A375
_TEXT_VALUE = (0x0040A160, "UT")
_DATE = (0x0040A121, "DA")
_TIME = (0x0040A122, "TM")
_UID = (0x0040A124, "UI")

_ITEM_TAG = b"\xfe\xff\x00\xe0"  # (FFFE,E000)
_TAG_HEAD = struct.Struct("<HH")
_LENGTH_16 = struct.Struct("<H")
_LENGTH_32 = struct.Struct("<I")
_LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})


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


@lru_cache(maxsize=512)
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
    evidence = _CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE
    ds[evidence] = _raw_sequence(evidence, [_evidence(plan, series)])
    if plan.display_uri:
        ds.DisplayURI = plan.display_uri
    for tag, vr, value in _content(plan, series):  # the root content item's elements belong to the dataset
        ds[tag] = _raw_sequence(tag, value) if vr == "SQ" else DataElement(tag, vr, value)  # type: ignore[arg-type]

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
            if isinstance(element, DataElement) and element.VR == "SQ":  # raw sequences are encoded already
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


def dicom_code(code: Code) -> Item | None:
    """A Code as a DICOM coded concept: its FHIR system mapped back to the coding scheme designator, or None."""
    scheme = _SYSTEM_SCHEMES.get(code.system)
    if scheme is None and code.system.startswith(PRIVATE_SCHEME_BASE):
        scheme = code.system.removeprefix(PRIVATE_SCHEME_BASE)
        if scheme == "unknown":  # the source item had no Coding Scheme Designator
            return None
    if not scheme or not code.code:
        return None
    return coded(code.code, scheme, code.display or code.code)


def modality_code(modality: str) -> Item:
    """(modality, DCM, meaning) with the CID 29/32/33 meaning, else the modality itself as meaning."""
    return coded(modality, "DCM", modality_meaning(modality) or modality)


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
    item.RequestedProcedureCodeSequence = DicomSequence([_dataset(first_code)] if first_code is not None else [])
    return item


def _evidence(plan: ManifestPlan, series: Sequence[Series]) -> Item:
    """The single study item of the Current Requested Procedure Evidence Sequence: every shared instance."""
    study_item: Item = [(_STUDY_INSTANCE_UID, "UI", plan.study.study_instance_uid)]
    if plan.display_uri:
        study_item.append((DISPLAY_URI_TAG, "UR", plan.display_uri))
    items = []
    for s in series:
        site = plan.retrieve.get(s.series_instance_uid, RetrieveSite())
        item: Item = [(_SERIES_INSTANCE_UID, "UI", s.series_instance_uid)]
        if site.retrieve_location_uid:
            item.append((_RETRIEVE_LOCATION_UID, "UI", site.retrieve_location_uid))
        if site.wado_rs_base_url:
            item.append((_RETRIEVE_URL, "UR", site.wado_rs_base_url))
        if site.retrieve_ae_title:
            item.append((_RETRIEVE_AE_TITLE, "AE", site.retrieve_ae_title))
        item.append((_REFERENCED_SOP_SEQUENCE, "SQ", [_sop_reference(i) for i in ordered_instances(s.instances)]))
        items.append(item)
    study_item.append((_REFERENCED_SERIES_SEQUENCE, "SQ", items))
    return study_item


# -- content tree --------------------------------------------------------------------------------------------------
#
# The content tree and the evidence hold a few elements per instance, thousands of times over: they are built as
# plain (tag, VR, value) items and encoded by ``encode_items`` (explicit VR little endian, defined lengths, the
# padding pydicom uses, so the bytes are those pydicom writes for the same items), then placed in the dataset as
# raw sequences. pydicom builds and writes everything else, and reads the raw sequences like any other on access.


def _content(plan: ManifestPlan, series: Sequence[Series]) -> Item:
    """The root CONTAINER with its procedure codes, the Image Library and the flat list of entries."""
    items: list[Item] = [
        _code_item(PROCEDURE_CODE, code, _HAS_CONCEPT_MOD)
        for code in (dicom_code(c) for c in plan.procedure_codes) if code is not None
    ]
    items.append(_image_library(plan, series))
    items.extend(_reference(instance, _CONTAINS) for s in series for instance in ordered_instances(s.instances))
    return _container(_concept(concepts.MANIFEST_WITH_DESCRIPTION), None, items, template_id="2010")


def _image_library(plan: ManifestPlan, series: Sequence[Series]) -> Item:
    """Image Library (111028): study descriptors (table A), then one Image Library Group per series."""
    items: list[Item] = [
        _code_item(_concept(concepts.MODALITY), modality_code(m), _HAS_ACQ_CONTEXT)
        for m in sorted({s.modality for s in series if s.modality})
    ]
    items.extend(
        _code_item(_concept(concepts.TARGET_REGION), code, _HAS_ACQ_CONTEXT)
        for code in (dicom_code(c) for c in plan.target_regions) if code is not None
    )
    items.append(_count(concepts.STUDY_RELATED_SERIES, len(series), UNIT_SERIES))
    items.extend(_group(plan, s) for s in series)
    return _container(_concept(concepts.IMAGE_LIBRARY), _CONTAINS, items)


def _group(plan: ManifestPlan, series: Series) -> Item:
    """Image Library Group (126200): the series descriptors of table B, then its entries."""
    items: list[Item] = []
    if series.modality:
        items.append(_code_item(_concept(concepts.MODALITY), modality_code(series.modality), _HAS_ACQ_CONTEXT))
    if series.started is not None:
        items.append(_value_item(_concept(concepts.SERIES_DATE), "DATE", _DATE, _da(series.started)))
        clock = _tm(series.started)
        if clock:
            items.append(_value_item(_concept(concepts.SERIES_TIME), "TIME", _TIME, clock))
    if series.series_description:
        items.append(_text_item(_concept(concepts.SERIES_DESCRIPTION), series.series_description))
    if series.series_number is not None:
        items.append(_text_item(_concept(concepts.SERIES_NUMBER), str(series.series_number)))
    items.append(_value_item(_concept(concepts.SERIES_INSTANCE_UID), "UIDREF", _UID, series.series_instance_uid))
    region = dicom_code(series.body_site) if series.body_site else None
    if region is not None:
        items.append(_code_item(_concept(concepts.TARGET_REGION), region, _HAS_ACQ_CONTEXT))
    elif series.body_part_examined:
        items.append(_text_item(_concept(concepts.TARGET_REGION), series.body_part_examined))
    laterality = dicom_code(series.laterality) if series.laterality else None
    if laterality is not None:
        items.append(_code_item(_concept(concepts.IMAGE_LATERALITY), laterality, _HAS_ACQ_CONTEXT))
    instances = ordered_instances(series.instances)
    items.append(_count(concepts.SERIES_RELATED_INSTANCES, len(instances), UNIT_INSTANCES))
    items.extend(_entry(plan, instance) for instance in instances)
    return _container(_concept(concepts.IMAGE_LIBRARY_GROUP), _CONTAINS, items)


def _entry(plan: ManifestPlan, instance: Instance) -> Item:
    """An Image Library entry: the reference with its descriptors (tables C and D) as HAS ACQ CONTEXT children."""
    children: list[Item] = []
    if instance.instance_number is not None:
        children.append(_text_item(_INSTANCE_NUMBER_NAME, str(instance.instance_number)))
    if instance.number_of_frames is not None and instance.number_of_frames > 1:
        children.append(_count(concepts.NUMBER_OF_FRAMES, instance.number_of_frames, UNIT_FRAMES))
    key_object = plan.key_objects.get(instance.sop_instance_uid)
    if key_object is not None:
        title = dicom_code(key_object.title)
        if title is not None:
            children.append(_code_item(_concept(concepts.DOCUMENT_TITLE), title, _HAS_ACQ_CONTEXT))
        if key_object.description:
            children.append(_text_item(_concept(concepts.KEY_OBJECT_DESCRIPTION), key_object.description))
    entry = _reference(instance, _CONTAINS)
    if children:
        entry.append((_CONTENT_SEQUENCE, "SQ", children))
    return entry


def _reference(instance: Instance, relationship: str) -> Item:
    """An IMAGE/COMPOSITE/WAVEFORM entry: no Concept Name (TID 2010 rows 8-10, TID 1601), one Referenced SOP item."""
    return [
        (_REFERENCED_SOP_SEQUENCE, "SQ", [_sop_reference(instance)]),
        (_RELATIONSHIP_TYPE, "CS", relationship),
        (_VALUE_TYPE, "CS", reference_value_type(instance.sop_class_uid, instance.kind)),
    ]


def _sop_reference(instance: Instance) -> Item:
    return [(_REFERENCED_SOP_CLASS_UID, "UI", instance.sop_class_uid),
            (_REFERENCED_SOP_INSTANCE_UID, "UI", instance.sop_instance_uid)]


def _container(name: Item, relationship: str | None, items: list[Item], template_id: str | None = None) -> Item:
    """A CONTAINER of separate items (Continuity of Content SEPARATE), with its DCMR template when given."""
    item = _content_item("CONTAINER", name, relationship)
    item.append((_CONTINUITY_OF_CONTENT, "CS", "SEPARATE"))
    if template_id is not None:
        item.append((_CONTENT_TEMPLATE_SEQUENCE, "SQ", [[(_MAPPING_RESOURCE, "CS", "DCMR"),
                                                          (_TEMPLATE_IDENTIFIER, "CS", template_id)]]))
    item.append((_CONTENT_SEQUENCE, "SQ", items))
    return item


def _content_item(value_type: str, name: Item, relationship: str | None) -> Item:
    item: Item = [(_VALUE_TYPE, "CS", value_type), (_CONCEPT_NAME_CODE_SEQUENCE, "SQ", [name])]
    if relationship is not None:
        item.append((_RELATIONSHIP_TYPE, "CS", relationship))
    return item


def _code_item(name: Item, value: Item, relationship: str) -> Item:
    item = _content_item("CODE", name, relationship)
    item.append((_CONCEPT_CODE_SEQUENCE, "SQ", [value]))
    return item


def _text_item(name: Item, value: str) -> Item:
    """A HAS ACQ CONTEXT TEXT descriptor."""
    return _value_item(name, "TEXT", _TEXT_VALUE, value)


def _value_item(name: Item, value_type: str, element: tuple[int, str], value: str) -> Item:
    """A HAS ACQ CONTEXT item whose value is one element (TEXT, DATE, TIME, UIDREF)."""
    item = _content_item(value_type, name, _HAS_ACQ_CONTEXT)
    item.append((element[0], element[1], value))
    return item


def _count(name: concepts.MadoConcept, value: int, unit: Item) -> Item:
    """A HAS ACQ CONTEXT NUM count; Numeric Value written as an integer ("20")."""
    item = _content_item("NUM", _concept(name), _HAS_ACQ_CONTEXT)
    measured = [(_MEASUREMENT_UNITS_CODE_SEQUENCE, "SQ", [unit]), (_NUMERIC_VALUE, "DS", str(value))]
    item.append((_MEASURED_VALUE_SEQUENCE, "SQ", [measured]))
    return item


def _concept(concept: concepts.MadoConcept) -> Item:
    """The final DCM code of a MADO concept (mado.md §2.1)."""
    return coded(concept.final, "DCM", concept.meaning)


def coded(value: str, scheme: str, meaning: str) -> Item:
    """A Code Sequence Macro item: Long Code Value (or URN Code Value for a URN/URL) when the value does not fit
    SH's 16 characters; the meaning cut to LO's 64."""
    item: Item = [(_CODING_SCHEME_DESIGNATOR, "SH", scheme), (_CODE_MEANING, "LO", meaning[:64])]
    if len(value) <= 16:
        item.append((_CODE_VALUE, "SH", value))
    elif value.startswith("urn") or "://" in value:
        item.append((_URN_CODE_VALUE, "UR", value))
    else:
        item.append((_LONG_CODE_VALUE, "UC", value))
    return item


PROCEDURE_CODE = coded("121023", "DCM", "Procedure Code")
UNIT_SERIES = coded("{series}", "UCUM", "series")
UNIT_INSTANCES = coded("{instances}", "UCUM", "instances")
UNIT_FRAMES = coded("{frames}", "UCUM", "frames")
_INSTANCE_NUMBER_NAME = coded(concepts.INSTANCE_NUMBER.final, "DCM", concepts.INSTANCE_NUMBER.meaning)


def encode_items(items: Iterable[Item]) -> bytes:
    """The value of a sequence of ``items`` in explicit VR little endian: each item and sequence of defined length,
    elements in tag order, values encoded in UTF-8 (the manifest's ISO_IR 192) and padded to even length with a
    NUL (UI) or a space."""
    out = bytearray()
    for item in items:
        _encode_item(item, out)
    return bytes(out)


def _encode_item(item: Item, out: bytearray) -> None:
    out += _ITEM_TAG
    start = len(out)
    out += b"\0\0\0\0"
    for tag, vr, value in sorted(item, key=_tag_of):
        head = _TAG_HEAD.pack(tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
        if vr == "SQ":
            out += head + b"\0\0\0\0\0\0"
            at = len(out)
            for child in value:  # type: ignore[union-attr]
                _encode_item(child, out)  # type: ignore[arg-type]
            _LENGTH_32.pack_into(out, at - 4, len(out) - at)
            continue
        data = value.encode("utf-8")  # type: ignore[union-attr]
        if len(data) % 2:
            data += b"\0" if vr == "UI" else b" "
        if vr in _LONG_LENGTH_VRS:
            out += head + b"\0\0" + _LENGTH_32.pack(len(data)) + data
        else:
            out += head + _LENGTH_16.pack(len(data)) + data
    _LENGTH_32.pack_into(out, start, len(out) - start - 4)


def _tag_of(element: Element) -> int:
    return element[0]


def _dataset(item: Item) -> Dataset:
    """A flat item (no sequence in it) as a pydicom dataset."""
    ds = Dataset()
    for tag, vr, value in item:
        ds[tag] = DataElement(tag, vr, value)
    return ds


def _raw_sequence(tag: int, items: Iterable[Item]) -> RawDataElement:
    """A sequence element of ``items`` as pydicom's raw (already encoded) element: written as it is, parsed
    on access."""
    value = encode_items(items)
    return RawDataElement(BaseTag(tag), "SQ", len(value), value, 0, False, True)


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
