"""Which report documents a study gives: versions, addenda, attachments, PDF-only studies, rejections."""

from __future__ import annotations

from dataclasses import replace

from bridge.extract.plan import plan_reports, rejected_instances
from bridge.model import (
    Code,
    CompletionFlag,
    DicomDateTime,
    DoseKind,
    DoseSummary,
    EncapsulatedDocument,
    ImageReference,
    KeyImageSelection,
    KeyObjectClass,
    Report,
    StructuredContent,
    VerificationFlag,
)

LOINC = "http://loinc.org"


def report(uid: str, kind: str = "sr-text-report", time: str = "2024-01-02T12:00:00", **changes: object) -> Report:
    base = Report(
        sop_instance_uid=uid, sop_class_uid="1.2.840.10008.5.1.4.1.1.88.22", series_instance_uid="9.1",
        study_instance_uid="9", title=Code(LOINC, "18748-4"), title_meaning="Report",
        content_datetime=DicomDateTime(time), completion_flag=CompletionFlag.COMPLETE,
        verification_flag=VerificationFlag.VERIFIED, preliminary_flag=None, authors=(), verifiers=(),
        language=None, sections=(), kind=kind,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def dose(uid: str) -> Report:
    return report(uid, "sr-dose", content=StructuredContent(dose=DoseSummary(DoseKind.CT, "CT dose narrative", None)))


def pdf(uid: str) -> Report:
    document = EncapsulatedDocument("application/pdf", b"%PDF-1.4\n%%EOF")
    return report(uid, "encapsulated-pdf", content=StructuredContent(document=document))


def test_a_preliminary_and_a_final_report_are_two_versions_of_one_report() -> None:
    preliminary = report("1.1", time="2024-01-02T10:00:00", verification_flag=VerificationFlag.UNVERIFIED)
    final = report("1.2", time="2024-01-02T11:00:00")
    (planned,) = plan_reports([final, preliminary])
    assert planned.report is final
    assert planned.version.identifier_uid == "1.1"  # the identifier stays the one of the first version
    assert (planned.version.number, planned.version.replaces) == (2, ("1.1",))
    assert planned.version.amends_final is False  # a final after a preliminary is final, not amended
    assert planned.superseded == (preliminary,)


def test_a_correction_of_a_final_report_amends_it_and_follows_its_predecessor_whatever_the_time() -> None:
    original = report("2.1", time="2024-01-02T12:00:00")
    correction = report("2.2", time="2024-01-01T09:00:00", predecessor_uids=("2.1",))  # clock skew
    (planned,) = plan_reports([original, correction])
    assert planned.report is correction
    assert planned.version.amends_final is True
    assert planned.version.replaces == ("2.1",)


def test_an_addendum_is_its_own_report_appending_to_the_base_report() -> None:
    base = report("3.1")
    addendum = report("3.2", time="2024-01-03T08:00:00", title=Code(LOINC, "55107-7"))
    first, second = plan_reports([addendum, base])
    assert first.report is base and first.version.number == 1
    assert second.report is addendum and second.version.appends_to == "3.1"


def test_dose_key_images_and_pdf_attach_to_the_text_report() -> None:
    key_images = report("4.3", "key-objects", content=StructuredContent(
        key_object_class=KeyObjectClass.KEY_IMAGES,
        key_images=(KeyImageSelection("9", "9.2", (ImageReference("1.2", "9.2.1", "9.2", "9"),), None),),
    ))
    manifest = report("4.4", "key-objects", content=StructuredContent(key_object_class=KeyObjectClass.MANIFEST))
    (planned,) = plan_reports([report("4.1"), dose("4.2"), key_images, manifest, pdf("4.5")])
    assert [a.sop_instance_uid for a in planned.attachments] == ["4.2", "4.3", "4.5"]  # manifests are not content
    assert planned.minimal is False


def test_measurements_without_a_text_report_become_the_report() -> None:
    (planned,) = plan_reports([report("5.1", "sr-measurement"), dose("5.2")])
    assert planned.report.sop_instance_uid == "5.1"
    assert [a.sop_instance_uid for a in planned.attachments] == ["5.2"]


def test_a_pdf_only_study_gives_minimal_reports() -> None:
    planned = plan_reports([pdf("6.1"), pdf("6.2")])
    assert [(p.report.sop_instance_uid, p.minimal) for p in planned] == [("6.1", True), ("6.2", True)]


def test_a_dose_only_study_gives_one_dose_report_and_a_manifest_alone_none() -> None:
    (planned,) = plan_reports([dose("6.3"), dose("6.4")])
    assert planned.report.sop_instance_uid == "6.4"  # same content time: UID order, the last is the report
    assert [a.sop_instance_uid for a in planned.attachments] == ["6.3"]
    manifest = report("6.5", "key-objects", content=StructuredContent(key_object_class=KeyObjectClass.MANIFEST))
    assert plan_reports([manifest]) == ()


def test_rejection_notes_withdraw_their_instances() -> None:
    rejection = report("7.1", "key-objects", content=StructuredContent(
        key_object_class=KeyObjectClass.REJECTION,
        key_images=(KeyImageSelection("9", "9.2", (ImageReference("1.2", "9.2.7", "9.2", "9"),), None),),
    ))
    assert rejected_instances([rejection, report("7.2")]) == frozenset({"9.2.7"})
