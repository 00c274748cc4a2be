"""Key Object Selection documents -> Report (sr-mapping.md §5, §9 item 9): real ELGA and MADO files, synthetic KOS."""

from __future__ import annotations

from collections.abc import Sequence

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from bridge.extract.report import extract_report_object
from bridge.extract.sr.kos import extract_key_objects
from bridge.model import KeyObjectClass, ObjectKind, Severity
from tests.conftest import shared_path
from tests.factories import ct_dataset, next_uids

KOS_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
ELGA_US = "1.2.826.0.1.3680043.2.1043.693076.0.66982.83.3.1.dcm"
ELGA_CR = "1.3.12.2.1107.5.8.2.100041.2024082003211020554540005234.1.dcm"


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def content_item(value_type: str, name: tuple[str, str, str] | None, relationship: str = "CONTAINS",
                 children: Sequence[Dataset] = (), **values: object) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = relationship, value_type
    if name is not None:
        item.ConceptNameCodeSequence = DicomSequence([code_item(*name)])
    if value_type == "CONTAINER":
        item.ContinuityOfContent = "SEPARATE"
    for keyword, value in values.items():
        setattr(item, keyword, value)
    if children:
        item.ContentSequence = DicomSequence(list(children))
    return item


def image_item(image: Dataset, frames: Sequence[int] = ()) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = image.SOPClassUID, image.SOPInstanceUID
    if frames:
        ref.ReferencedFrameNumber = list(frames)
    return content_item("IMAGE", None, ReferencedSOPSequence=DicomSequence([ref]))


def study_images(count: int = 2) -> list[Dataset]:
    """``count`` CT images of one study, each in its own series (series numbers 1, 2, ...)."""
    first = ct_dataset(SeriesNumber=1)
    images = [first]
    for number in range(2, count + 1):
        (series_uid,) = next_uids(1)
        images.append(ct_dataset(StudyInstanceUID=first.StudyInstanceUID, SeriesInstanceUID=series_uid,
                                 SeriesNumber=number))
    return images


def kos_dataset(
    images: Sequence[Dataset],
    *,
    title: tuple[str, str, str] = ("113000", "DCM", "Of Interest"),
    description: str | None = "Two lesions worth a look",
    frames: dict[int, Sequence[int]] | None = None,
    image_library: bool = False,
    evidence: Sequence[Dataset] | None = None,
) -> Dataset:
    """A TID 2010 KOS on the study of ``images``, referencing each with an IMAGE item under the root."""
    first = images[0]
    ds = ct_dataset(
        SOPClassUID=KOS_CLASS, Modality="KO", StudyInstanceUID=first.StudyInstanceUID, SeriesNumber=90,
        InstanceNumber=1, BodyPartExamined=None, Rows=None, Columns=None, BitsAllocated=None, BitsStored=None,
        HighBit=None, PixelRepresentation=None, SamplesPerPixel=None, PhotometricInterpretation=None, PixelData=None,
    )
    ds.SeriesInstanceUID, ds.SOPInstanceUID = next_uids(2)
    ds.ContentDate, ds.ContentTime = "20240102", "120000"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = DicomSequence([code_item(*title)])
    template = Dataset()
    template.MappingResource, template.TemplateIdentifier = "DCMR", "2010"
    ds.ContentTemplateSequence = DicomSequence([template])
    children: list[Dataset] = []
    if description is not None:
        children.append(content_item("TEXT", ("113012", "DCM", "Key Object Description"), TextValue=description))
    if image_library:
        group_children = [content_item("UIDREF", ("112002", "DCM", "Series Instance UID"), "HAS ACQ CONTEXT",
                                       UID=images[0].SeriesInstanceUID)]
        group = content_item("CONTAINER", ("126200", "DCM", "Image Library Group"), children=group_children)
        children.append(content_item("CONTAINER", ("111028", "DCM", "Image Library"), children=[group]))
    frames = frames or {}
    children.extend(image_item(img, frames.get(i, ())) for i, img in enumerate(images))
    ds.ContentSequence = DicomSequence(children)
    study_item = Dataset()
    study_item.StudyInstanceUID = first.StudyInstanceUID
    series_items = []
    for img in images if evidence is None else evidence:
        series_item = Dataset()
        series_item.SeriesInstanceUID = img.SeriesInstanceUID
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = img.SOPClassUID, img.SOPInstanceUID
        series_item.ReferencedSOPSequence = DicomSequence([ref])
        series_items.append(series_item)
    study_item.ReferencedSeriesSequence = DicomSequence(series_items)
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([study_item])
    return ds


# -- synthetic KOS ----------------------------------------------------------------------------------------------


def test_key_image_note_gives_one_selection_per_series() -> None:
    images = study_images(2)
    ds = kos_dataset(images, frames={1: (3, 5)})
    report = extract_key_objects(ds, "kos.dcm")
    content = report.content
    assert report.kind == "key-objects"
    assert content.key_object_class is KeyObjectClass.KEY_IMAGES
    assert len(content.key_images) == 2
    for selection, img in zip(content.key_images, images, strict=True):
        assert selection.study_instance_uid == img.StudyInstanceUID
        assert selection.series_instance_uid == img.SeriesInstanceUID
        assert [r.sop_instance_uid for r in selection.instances] == [img.SOPInstanceUID]
        assert selection.instances[0].sop_class_uid == CT_IMAGE
        assert selection.title is not None and (selection.title.system, selection.title.code) == (DCM, "113000")
        assert selection.description == "Two lesions worth a look"
        assert selection.section == "59776-5"
    assert content.key_images[0].instances[0].frames == ()
    assert content.key_images[1].instances[0].frames == (3, 5)
    assert {r.sop_instance_uid for r in content.evidence} == {i.SOPInstanceUID for i in images}
    assert report.findings == ()


def test_dispatch_reads_kos_through_the_report_readers() -> None:
    report = extract_report_object(kos_dataset(study_images(2)), "kos.dcm", ObjectKind.KEY_OBJECTS)
    assert report.content.key_object_class is KeyObjectClass.KEY_IMAGES
    assert len(report.content.key_images) == 2


@pytest.mark.parametrize(
    ("title", "image_library", "expected"),
    [
        (("113030", "DCM", "Manifest"), False, KeyObjectClass.MANIFEST),
        (("113032", "DCM", "Complete Study Content"), False, KeyObjectClass.MANIFEST),
        (("113000", "DCM", "Of Interest"), True, KeyObjectClass.MANIFEST),  # MADO layout wins over the title
        (("MADOTEMP001", "99IHE", "Manifest with Description"), False, KeyObjectClass.MANIFEST),
        (("113001", "DCM", "Rejected for Quality Reasons"), False, KeyObjectClass.REJECTION),
        (("113039", "DCM", "Data Retention Policy Expired"), False, KeyObjectClass.REJECTION),
        (("113004", "DCM", "For Teaching"), False, KeyObjectClass.OTHER),
        (("113013", "DCM", "Best In Set"), False, KeyObjectClass.KEY_IMAGES),
    ],
)
def test_class_from_title_and_layout(title: tuple[str, str, str], image_library: bool,
                                     expected: KeyObjectClass) -> None:
    images = study_images(2)
    report = extract_key_objects(kos_dataset(images, title=title, image_library=image_library), "kos.dcm")
    assert report.content.key_object_class is expected
    # manifests and rejections list their instances the same way: the consumer acts on the class
    assert [s.series_instance_uid for s in report.content.key_images] == [i.SeriesInstanceUID for i in images]


def test_rejection_lists_the_rejected_instances() -> None:
    images = study_images(2)
    ds = kos_dataset(images, title=("113001", "DCM", "Rejected for Quality Reasons"), description=None)
    content = extract_key_objects(ds, "kos.dcm").content
    assert content.key_object_class is KeyObjectClass.REJECTION
    rejected = {r.sop_instance_uid for s in content.key_images for r in s.instances}
    assert rejected == {i.SOPInstanceUID for i in images}


def test_automatic_description_makes_other_and_is_configurable() -> None:
    images = study_images(1)
    ds = kos_dataset(images, description="AUTOMATIC CREATED by router")
    assert extract_key_objects(ds, "kos.dcm").content.key_object_class is KeyObjectClass.OTHER
    assert extract_key_objects(ds, "kos.dcm", automatic_patterns=()).content.key_object_class is (
        KeyObjectClass.KEY_IMAGES)
    custom = kos_dataset(images, description="Made by PACS robot")
    assert extract_key_objects(custom, "kos.dcm", automatic_patterns=(r"pacs\s+robot",)).content.key_object_class is (
        KeyObjectClass.OTHER)


def test_untitled_kos_with_description_and_images_is_a_key_image_note() -> None:
    ds = kos_dataset(study_images(1))
    del ds.ConceptNameCodeSequence
    assert extract_key_objects(ds, "kos.dcm").content.key_object_class is KeyObjectClass.KEY_IMAGES
    ds = kos_dataset(study_images(1), description=None)
    del ds.ConceptNameCodeSequence
    assert extract_key_objects(ds, "kos.dcm").content.key_object_class is KeyObjectClass.OTHER


def test_image_not_in_evidence_gets_the_kos_study_and_a_finding() -> None:
    images = study_images(2)
    ds = kos_dataset(images, evidence=images[:1])
    report = extract_key_objects(ds, "kos.dcm")
    selections = report.content.key_images
    assert [s.series_instance_uid for s in selections] == [images[0].SeriesInstanceUID, ""]
    assert selections[1].study_instance_uid == ds.StudyInstanceUID
    assert selections[1].instances[0].sop_instance_uid == images[1].SOPInstanceUID
    assert len(report.findings) == 1
    assert images[1].SOPInstanceUID in report.findings[0].message
    assert report.findings[0].where == "1.3"


def test_same_instance_referenced_twice_is_listed_once_with_all_frames() -> None:
    images = study_images(1)
    ds = kos_dataset(images, frames={0: (1,)})
    ds.ContentSequence.append(image_item(images[0], (2,)))
    (selection,) = extract_key_objects(ds, "kos.dcm").content.key_images
    assert len(selection.instances) == 1
    assert selection.instances[0].frames == (1, 2)


# -- real files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "series_sizes"), [(ELGA_US, [2]), (ELGA_CR, [1, 1])])
def test_elga_manifests(name: str, series_sizes: list[int]) -> None:
    path = shared_path("dicom", "kos", name)
    report = extract_key_objects(pydicom.dcmread(path), str(path))
    content = report.content
    assert content.key_object_class is KeyObjectClass.MANIFEST
    assert [len(s.instances) for s in content.key_images] == series_sizes
    assert all(s.study_instance_uid == report.study_instance_uid for s in content.key_images)
    assert all(s.description is None for s in content.key_images)
    assert report.findings == ()


def test_elga_automatic_of_interest_is_other() -> None:
    path = shared_path("dicom", "kos", "GK17285-KOS.dcm")
    ds = pydicom.dcmread(path)
    report = extract_key_objects(ds, str(path))
    assert report.title is not None and report.title.code == "113000"
    assert report.content.key_object_class is KeyObjectClass.OTHER
    (selection,) = report.content.key_images
    assert selection.description == "Automatic created"
    assert selection.instances[0].sop_class_uid == "1.2.840.10008.5.1.4.1.1.4"
    assert report.language == "eng"
    manual = extract_key_objects(ds, str(path), automatic_patterns=())
    assert manual.content.key_object_class is KeyObjectClass.KEY_IMAGES


def test_mado_manifest() -> None:
    path = shared_path("dicom", "mado", "MADO_KOS_B.dcm")
    report = extract_key_objects(pydicom.dcmread(path), str(path))
    content = report.content
    assert content.key_object_class is KeyObjectClass.MANIFEST
    assert [len(s.instances) for s in content.key_images] == [20, 1]  # library and root references merged
    assert [s.series_instance_uid for s in content.key_images] == [
        "1.2.250.1.59.40211.22756022.2.2.102.201",
        "1.2.250.1.59.40211.22756022.2.2.102.202",
    ]
    assert len(content.evidence) == 21
    assert {(f.severity, f.where) for f in report.findings} == {  # what the reader tolerated in the TI sample
        (Severity.INFO, "1.1.4"), (Severity.INFO, "1.1.5"), (Severity.INFO, "1.1.4.8"), (Severity.INFO, "1.1.5.8")}
