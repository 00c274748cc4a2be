"""What the bundled sample set contains: a two-series chest CT and its verified TID 2000 report.

The measurement, dose, key image and PDF objects of the same study are checked in `test_samples_documents.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, EnhancedSRStorage

from bridge.samples import write_samples

CT_NAMES = [f"ct-chest/series-{s}/IM{i:04d}.dcm" for s in (1, 2) for i in range(1, 11)]
SR_NAME = "ct-chest/report/SR0001.dcm"
OTHER_NAMES = [
    "ct-chest/measurements/SR0001.dcm",
    "ct-chest/dose/SR0001.dcm",
    "ct-chest/key-images/KO0001.dcm",
    "ct-chest/pdf/DOC0001.dcm",
]

# PS3.16 TID 2000 headings (CID 7001) in document order, with the CID 7002 name of their TEXT items
HEADINGS = [
    ("11329-0", "History", ("LN", "11329-0"), 1),
    ("55111-9", "Current Procedure Descriptions", ("DCM", "121065"), 1),
    ("59776-5", "Findings", ("DCM", "121071"), 3),
    ("19005-8", "Impressions", ("DCM", "121073"), 1),
    ("18783-1", "Recommendations", ("DCM", "121075"), 1),
]


@pytest.fixture(scope="module")
def sample_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("samples")
    return {path.relative_to(root).as_posix(): path for path in write_samples(root)}


@pytest.fixture(scope="module")
def ct(sample_paths: dict[str, Path]) -> list[Dataset]:
    return [dcmread(sample_paths[name]) for name in CT_NAMES]


@pytest.fixture(scope="module")
def sr(sample_paths: dict[str, Path]) -> Dataset:
    return dcmread(sample_paths[SR_NAME])


def _code(item: Dataset) -> tuple[str, str]:
    concept = item.ConceptNameCodeSequence[0]
    return concept.CodingSchemeDesignator, concept.CodeValue


def _children(item: Dataset, value_type: str) -> Iterator[Dataset]:
    return (child for child in item.ContentSequence if child.ValueType == value_type)


def test_write_samples_returns_25_paths_sorted_in_the_documented_layout(sample_paths: dict[str, Path]) -> None:
    assert list(sample_paths) == sorted([*CT_NAMES, SR_NAME, *OTHER_NAMES])
    assert len(sample_paths) == 25
    assert list(sample_paths.values()) == sorted(sample_paths.values())


def test_every_sample_file_parses_as_a_dicom_file(sample_paths: dict[str, Path]) -> None:
    for path in sample_paths.values():
        ds = dcmread(path)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SpecificCharacterSet == "ISO_IR 192"


def test_ct_is_one_study_of_two_series_of_ten_instances(ct: list[Dataset]) -> None:
    assert {ds.SOPClassUID for ds in ct} == {CTImageStorage}
    assert {ds.Modality for ds in ct} == {"CT"}
    assert len({ds.StudyInstanceUID for ds in ct}) == 1
    assert len({ds.SOPInstanceUID for ds in ct}) == 20
    by_series: dict[int, list[Dataset]] = {}
    for ds in ct:
        by_series.setdefault(ds.SeriesNumber, []).append(ds)
    assert sorted(by_series) == [1, 2]
    for series in by_series.values():
        assert len({ds.SeriesInstanceUID for ds in series}) == 1
        assert [ds.InstanceNumber for ds in series] == list(range(1, 11))


@pytest.mark.parametrize(
    ("series_number", "description", "timezone"),
    [(1, "Axial 5mm", "+0100"), (2, "Axial 1mm lung", None)],
)
def test_series_description_and_timezone_offset(
    ct: list[Dataset], series_number: int, description: str, timezone: str | None
) -> None:
    series = [ds for ds in ct if ds.SeriesNumber == series_number]
    assert {ds.SeriesDescription for ds in series} == {description}
    assert {ds.get("TimezoneOffsetFromUTC") for ds in series} == {timezone}


def test_ct_header_carries_patient_order_and_site(ct: list[Dataset]) -> None:
    ds = ct[0]
    assert str(ds.PatientName) == "Wiśniewska^Anna"  # decoded from UTF-8
    assert (ds.PatientID, ds.IssuerOfPatientID, ds.PatientBirthDate, ds.PatientSex) == (
        "PAT-0001",
        "HOSPITAL-A",
        "19670412",
        "F",
    )
    assert ds.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityIDType == "ISO"
    assert ds.AccessionNumber == "ACC-2024-0001"
    issuer = ds.IssuerOfAccessionNumberSequence[0]
    assert (issuer.LocalNamespaceEntityID, issuer.UniversalEntityIDType) == ("HOSPITAL-A-RIS", "ISO")
    assert (ds.StudyDate, ds.StudyTime, ds.StudyDescription) == ("20240315", "101530", "CT Chest with contrast")
    assert str(ds.ReferringPhysicianName) == "Novak^Peter^^Dr."
    assert "Łódź" in ds.InstitutionAddress
    assert (ds.BodyPartExamined, ds.StationName) == ("CHEST", "CT01")
    assert "Laterality" not in ds
    assert ds.RequestAttributesSequence[0].RequestedProcedureCodeSequence[0].CodeValue == "CT-CHEST-IV"
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.PhotometricInterpretation) == (16, 16, 16, "MONOCHROME2")
    assert len(ds.PixelData) == 16 * 16 * 2


def test_sr_is_a_verified_complete_enhanced_sr_in_the_ct_study(sr: Dataset, ct: list[Dataset]) -> None:
    assert sr.SOPClassUID == EnhancedSRStorage
    assert (sr.CompletionFlag, sr.VerificationFlag, sr.PreliminaryFlag) == ("COMPLETE", "VERIFIED", "FINAL")
    verifier = sr.VerifyingObserverSequence[0]
    assert str(verifier.VerifyingObserverName) == "Lindqvist^Erik^^Dr."
    assert verifier.VerificationDateTime == "20240315143000"
    assert (sr.ContentDate, sr.ContentTime, sr.TimezoneOffsetFromUTC) == ("20240315", "142500", "+0100")
    assert sr.StudyInstanceUID == ct[0].StudyInstanceUID
    assert sr.SeriesInstanceUID not in {ds.SeriesInstanceUID for ds in ct}
    assert (sr.SeriesNumber, sr.SeriesDescription) == (99, "Radiology report")
    assert (sr.AccessionNumber, sr.ReferencedRequestSequence[0].AccessionNumber) == ("ACC-2024-0001",) * 2
    assert str(sr.AuthorObserverSequence[0].PersonName) == "Lindqvist^Erik^^Dr."


def test_sr_evidence_lists_exactly_the_20_ct_instances(sr: Dataset, ct: list[Dataset]) -> None:
    [study_item] = sr.CurrentRequestedProcedureEvidenceSequence
    assert study_item.StudyInstanceUID == ct[0].StudyInstanceUID
    referenced = [
        (series.SeriesInstanceUID, sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID)
        for series in study_item.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    ]
    assert sorted(referenced) == sorted((ds.SeriesInstanceUID, ds.SOPClassUID, ds.SOPInstanceUID) for ds in ct)
    assert "PertinentOtherEvidenceSequence" not in sr


def test_sr_root_is_tid_2000_with_language_and_observer_context(sr: Dataset) -> None:
    assert _code(sr) == ("LN", "18748-4")
    template = sr.ContentTemplateSequence[0]
    assert (template.MappingResource, template.TemplateIdentifier) == ("DCMR", "2000")
    [language] = [item for item in sr.ContentSequence if item.RelationshipType == "HAS CONCEPT MOD"]
    assert _code(language) == ("DCM", "121049")
    assert language.ConceptCodeSequence[0].CodeValue == "en-US"
    context = {_code(item): item for item in sr.ContentSequence if item.RelationshipType == "HAS OBS CONTEXT"}
    assert context[("DCM", "121005")].ConceptCodeSequence[0].CodeValue == "121006"  # Observer Type: Person
    assert str(context[("DCM", "121008")].PersonName) == "Lindqvist^Erik^^Dr."


def test_sr_has_the_five_headings_in_order(sr: Dataset) -> None:
    headings = list(_children(sr, "CONTAINER"))
    assert [(_code(h), h.ConceptNameCodeSequence[0].CodeMeaning) for h in headings] == [
        (("LN", code), meaning) for code, meaning, _, _ in HEADINGS
    ]
    assert {h.RelationshipType for h in headings} == {"CONTAINS"}


@pytest.mark.parametrize(("heading_code", "meaning", "item_name", "count"), HEADINGS)
def test_each_heading_holds_text_items_named_from_cid_7002(
    sr: Dataset, heading_code: str, meaning: str, item_name: tuple[str, str], count: int
) -> None:
    [heading] = [h for h in _children(sr, "CONTAINER") if _code(h) == ("LN", heading_code)]
    texts = list(_children(heading, "TEXT"))
    assert len(texts) == len(heading.ContentSequence) == count
    assert {_code(item) for item in texts} == {item_name}
    assert all(item.TextValue.strip() for item in texts)
