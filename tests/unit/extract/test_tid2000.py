"""TID 2000 text reports: sections, coded findings, conclusions, key images and tolerance (sr-mapping.md §2, §9.8)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from bridge.extract.sr.tid2000 import extract_report
from bridge.model import EuSection
from tests import sr_factory as f
from tests.factories import ct_dataset

HISTORY = ("11329-0", "LN", "History")
FINDINGS = ("59776-5", "LN", "Findings")
LEGACY_FINDINGS = ("121070", "DCM", "Findings")
IMPRESSIONS = ("19005-8", "LN", "Impressions")
RECOMMENDATIONS = ("18783-1", "LN", "Recommendations")
FINDING = ("121071", "DCM", "Finding")
IMPRESSION = ("121073", "DCM", "Impression")
NODULE = ("27925004", "SCT", "Nodule")
LUNG = ("39607008", "SCT", "Lung structure")
LEFT = ("7771000", "SCT", "Left")


def study_images() -> list[Dataset]:
    first = ct_dataset(InstanceNumber=1)
    second = ct_dataset(InstanceNumber=2, StudyInstanceUID=first.StudyInstanceUID,
                        SeriesInstanceUID=first.SeriesInstanceUID)
    other_series = ct_dataset(InstanceNumber=1, StudyInstanceUID=first.StudyInstanceUID, SeriesNumber=2)
    return [first, second, other_series]


def full_report(images: list[Dataset]) -> Dataset:
    site = f.coded(("363698007", "SCT", "Finding Site"), LUNG, "HAS CONCEPT MOD",
                   children=[f.coded(("272741003", "SCT", "Laterality"), LEFT, "HAS CONCEPT MOD")])
    return f.text_report(images, [
        f.heading(HISTORY, f.text(("121060", "DCM", "History"), "Smoker, cough for 3 weeks.")),
        f.heading(
            FINDINGS,
            f.text(FINDING, "A 9 mm nodule in the left upper lobe."),
            f.coded(FINDING, NODULE, children=[site]),
            f.num(("103339001", "SCT", "Long axis"), "9", ("mm", "UCUM", "millimeter")),
            f.image(images[0].SOPInstanceUID, ("121080", "DCM", "Best illustration of finding")),
            f.image(images[2].SOPInstanceUID),
        ),
        f.heading(LEGACY_FINDINGS, f.text(FINDING, "No pleural effusion.")),
        f.heading(IMPRESSIONS, f.text(IMPRESSION, "Solitary pulmonary nodule."),
                  f.coded(IMPRESSION, NODULE)),
        f.heading(RECOMMENDATIONS, f.coded(("121075", "DCM", "Recommendation"),
                                           ("169069000", "SCT", "CT of chest"))),
        f.heading(("121064", "DCM", "Current Procedure Descriptions")),  # empty heading
    ])


def test_headings_map_to_eu_sections_and_legacy_codes_join_their_loinc_section() -> None:
    images = study_images()
    report = extract_report(full_report(images), "sr.dcm")
    by_section = {s: [t.text for t in report.section_texts(s)] for s in EuSection}
    assert by_section[EuSection.HISTORY] == ["Smoker, cough for 3 weeks."]
    assert by_section[EuSection.FINDINGS][0] == "A 9 mm nodule in the left upper lobe."
    assert by_section[EuSection.FINDINGS][-1] == "No pleural effusion."  # DCM 121070 joins LOINC 59776-5
    assert by_section[EuSection.IMPRESSION][0] == "Solitary pulmonary nodule."
    assert any(f.where.endswith(".6") and "empty heading" in f.message for f in report.findings)


def test_coded_and_numeric_items_become_observations_with_their_section_site_and_unit() -> None:
    images = study_images()
    report = extract_report(full_report(images), "sr.dcm")
    observations = report.content.observations
    assert [(o.section, o.concept.code if o.concept else None) for o in observations] == [
        ("59776-5", "121071"), ("59776-5", "103339001"), ("19005-8", "121073"),
    ]
    finding, long_axis, impression = observations
    assert finding.value is not None and finding.value.code == "27925004"
    assert finding.finding_sites[0].site.code == "39607008"
    laterality = finding.finding_sites[0].laterality
    assert laterality is not None and laterality.code == "7771000"
    assert long_axis.quantity is not None
    assert (long_axis.quantity.value, long_axis.quantity.ucum) == ("9", "mm")
    assert [c.code for c in report.content.conclusion_codes] == ["27925004"]
    assert [c.code for c in report.content.recommendation_codes] == ["169069000"]
    assert impression.value is not None and impression.value.code == "27925004"


def test_image_items_become_one_key_image_selection_per_series() -> None:
    images = study_images()
    report = extract_report(full_report(images), "sr.dcm")
    selections = {s.series_instance_uid: s for s in report.content.key_images}
    assert set(selections) == {images[0].SeriesInstanceUID, images[2].SeriesInstanceUID}
    first = selections[images[0].SeriesInstanceUID]
    assert [i.sop_instance_uid for i in first.instances] == [images[0].SOPInstanceUID]
    assert first.study_instance_uid == images[0].StudyInstanceUID
    assert first.section == EuSection.FINDINGS.value


def test_an_image_outside_the_evidence_is_reported_not_guessed() -> None:
    images = study_images()
    ds = f.text_report(images[:1], [f.heading(FINDINGS, f.text(FINDING, "x"), f.image("1.2.3.4.5"))])
    report = extract_report(ds, "sr.dcm")
    assert report.content.key_images == ()
    assert any("1.2.3.4.5" in finding.message and finding.where == "1.1.2" for finding in report.findings)


def test_flags_verifier_and_predecessors_are_read() -> None:
    images = study_images()
    ds = f.text_report(images, [f.heading(FINDINGS, f.text(FINDING, "x"))], predecessors=["1.2.3.9"])
    report = extract_report(ds, "sr.dcm")
    assert report.verification_flag is not None and report.verification_flag.value == "VERIFIED"
    assert report.verifiers[0].name.family == "Rad"
    assert report.verifiers[0].datetime is not None and report.verifiers[0].datetime.iso == "2024-01-02T13:00:00"
    assert report.predecessor_uids == ("1.2.3.9",)
    assert report.referenced_study_uids == (images[0].StudyInstanceUID,)
