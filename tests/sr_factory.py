"""SR content trees built in code (TID 2000 text reports, with coded items, images and verification)."""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from tests.factories import ct_dataset, next_uids

ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


Name = tuple[str, str, str]


def item(value_type: str, name: Name | None, relationship: str = "CONTAINS", **values: object) -> Dataset:
    """One content item; ``children`` (a list of items) becomes its Content Sequence."""
    ds = Dataset()
    ds.RelationshipType = relationship
    ds.ValueType = value_type
    if name is not None:
        ds.ConceptNameCodeSequence = DicomSequence([code(*name)])
    children = values.pop("children", None)
    if value_type == "CONTAINER":
        ds.ContinuityOfContent = "SEPARATE"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    if children:
        ds.ContentSequence = DicomSequence(list(children))  # type: ignore[arg-type]
    return ds


def text(name: tuple[str, str, str] | None, value: str, relationship: str = "CONTAINS") -> Dataset:
    return item("TEXT", name, relationship, TextValue=value)


def coded(name: tuple[str, str, str], value: tuple[str, str, str], relationship: str = "CONTAINS",
          children: Sequence[Dataset] = ()) -> Dataset:
    return item("CODE", name, relationship, ConceptCodeSequence=DicomSequence([code(*value)]), children=list(children))


def num(name: tuple[str, str, str], value: str, unit: tuple[str, str, str]) -> Dataset:
    measured = Dataset()
    measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence = DicomSequence([code(*unit)])
    return item("NUM", name, MeasuredValueSequence=DicomSequence([measured]))


def image(sop_instance_uid: str, name: tuple[str, str, str] | None = None, frames: Sequence[int] = ()) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = CT_IMAGE, sop_instance_uid
    if frames:
        ref.ReferencedFrameNumber = list(frames)
    return item("IMAGE", name, ReferencedSOPSequence=DicomSequence([ref]))


def heading(name: tuple[str, str, str], *children: Dataset) -> Dataset:
    return item("CONTAINER", name, children=list(children))


_IMAGE_ONLY = ("BodyPartExamined", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
               "SamplesPerPixel", "PhotometricInterpretation", "PixelData")


def document_dataset(study_instance_uid: str, sop_class_uid: str, modality: str) -> Dataset:
    """A non-image object (SR, KOS, PDF) of the study: the CT factory's patient and order, no pixel module."""
    ds = ct_dataset(SOPClassUID=sop_class_uid, Modality=modality, StudyInstanceUID=study_instance_uid,
                    SeriesNumber=99, InstanceNumber=1, **dict.fromkeys(_IMAGE_ONLY))
    ds.SeriesInstanceUID, ds.SOPInstanceUID = next_uids(2)
    ds.ContentDate, ds.ContentTime = "20240102", "120000"
    return ds


def text_report(
    images: Sequence[Dataset],
    headings: Sequence[Dataset],
    *,
    title: tuple[str, str, str] = ("18748-4", "LN", "Diagnostic Imaging Report"),
    completion: str = "COMPLETE",
    verification: str = "VERIFIED",
    content_time: str = "120000",
    predecessors: Sequence[str] = (),
    verifier: str | None = "Rad^Rita",
) -> Dataset:
    """An Enhanced SR TID 2000 report on the study of ``images`` (their UIDs go into the evidence)."""
    first = images[0]
    ds = document_dataset(first.StudyInstanceUID, ENHANCED_SR, "SR")
    ds.ContentTime = content_time
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = DicomSequence([code(*title)])
    template = Dataset()
    template.MappingResource, template.TemplateIdentifier = "DCMR", "2000"
    ds.ContentTemplateSequence = DicomSequence([template])
    ds.CompletionFlag, ds.VerificationFlag = completion, verification
    if verifier is not None and verification == "VERIFIED":
        observer = Dataset()
        observer.VerifyingObserverName = verifier
        observer.VerifyingOrganization = "Hospital"
        observer.VerificationDateTime = "20240102130000"
        observer.VerifyingObserverIdentificationCodeSequence = DicomSequence([])
        ds.VerifyingObserverSequence = DicomSequence([observer])
    evidence_series: dict[str, list[Dataset]] = {}
    for img in images:
        evidence_series.setdefault(img.SeriesInstanceUID, []).append(img)
    study_item = Dataset()
    study_item.StudyInstanceUID = first.StudyInstanceUID
    series_items = []
    for series_uid, members in evidence_series.items():
        series_item = Dataset()
        series_item.SeriesInstanceUID = series_uid
        refs = []
        for img in members:
            ref = Dataset()
            ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = img.SOPClassUID, img.SOPInstanceUID
            refs.append(ref)
        series_item.ReferencedSOPSequence = DicomSequence(refs)
        series_items.append(series_item)
    study_item.ReferencedSeriesSequence = DicomSequence(series_items)
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([study_item])
    if predecessors:
        pred_study = Dataset()
        pred_study.StudyInstanceUID = first.StudyInstanceUID
        pred_series = Dataset()
        pred_series.SeriesInstanceUID = ds.SeriesInstanceUID
        pred_refs = []
        for uid in predecessors:
            ref = Dataset()
            ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ENHANCED_SR, uid
            pred_refs.append(ref)
        pred_series.ReferencedSOPSequence = DicomSequence(pred_refs)
        pred_study.ReferencedSeriesSequence = DicomSequence([pred_series])
        ds.PredecessorDocumentsSequence = DicomSequence([pred_study])
    ds.ContentSequence = DicomSequence(list(headings))
    return ds
