"""Radiation dose SRs -> DoseSummary (sr-mapping.md §4; checklist §9 items 5-7): real RDSRs and synthetic ones."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from bridge.extract.sr import dose as dose_module
from bridge.extract.sr.dose import dose_kind, extract_dose_report
from bridge.extract.sr.tree import walk
from bridge.extract.values import text
from bridge.model import CompletionFlag, DicomDateTime, DoseKind, Report, Severity
from tests.conftest import shared_path
from tests.factories import next_uids

DISCLAIMER = "Values are scanner output metrics from the DICOM radiation dose structured report, not patient " \
    "absorbed dose."
SIEMENS_NARRATIVE = (
    "Projection X-ray on Siemens AXIOM-Artis (AXIS01475), 2020-12-10. Fluoroscopy time 00:18; dose area product "
    "total 0.0937 Gy.cm2 (fluoroscopy 0.0314, acquisition 0.0623); reference point air kerma total 1.36 mGy "
    "(15cm from Isocenter toward Source); 21 irradiation events. " + DISCLAIMER
)
PHILIPS_U104_NARRATIVE = (
    "Huvud on Philips Allura Clarity (INR Lab), 2020-12-10. Fluoroscopy time 00:37; dose area product total "
    "0.0784 Gy.cm2 (fluoroscopy 0.0301, acquisition 0.0483); reference point air kerma total 0.709 mGy "
    "(15cm below BeamIsocenter); 15 radiographic frames; 25 irradiation events; plane A. " + DISCLAIMER
)
XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"


def _read(name: str) -> tuple[Dataset, str]:
    path = shared_path("dicom", "sr", "pyskindose", name)
    return dcmread(path), str(path)


def _extract(name: str) -> tuple[Report, Dataset]:
    ds, source = _read(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on the anonymiser's invalid file meta UIDs (NOTICE.md)
        return extract_dose_report(ds, source), ds


# -- real files ---------------------------------------------------------------------------------------------


def test_siemens_axiom_artis_gives_the_worked_example() -> None:
    report, ds = _extract("siemens_axiom_artis.dcm")
    dose = report.content.dose
    assert dose is not None
    assert dose.kind is DoseKind.PROJECTION
    assert dose.narrative == SIEMENS_NARRATIVE
    assert dose.events == 21
    assert dose.title is not None and dose.title.code == "113701"
    assert dose.started == DicomDateTime("2020-12-10T06:36:04")
    assert dose.ended == DicomDateTime("2020-12-10T06:46:01")
    totals = dict(dose.totals)
    assert totals["113722"].value == "0.00000937" and totals["113722"].ucum == "Gy.m2"  # vendor unit Gym2
    assert totals["113725"].value == "0.00136" and totals["113725"].ucum == "Gy"
    assert totals["113730"].value == "18.0"
    assert "113731" not in totals  # no Total Number of Radiographic Frames: nothing rendered for it
    assert dose.device is not None
    assert (dose.device.name, dose.device.manufacturer, dose.device.model_name, dose.device.serial_number) == (
        "AXIS01475", "Siemens", "AXIOM-Artis", "146278")
    assert report.manufacturer_generated
    assert report.kind == "sr-dose"
    assert report.completion_flag is CompletionFlag.PARTIAL
    assert report.sop_instance_uid == "1.2.826.0.1.3680043.8.498.43502295569308544018289424341665141315"
    assert report.sop_instance_uid != text(ds.file_meta, "MediaStorageSOPInstanceUID")
    assert "<Root>" not in dose.narrative  # the XML Comment (121106) is not rendered


def test_philips_biplane_shows_plane_a_only() -> None:
    report, _ = _extract("philips_allura_clarity_u104.dcm")
    dose = report.content.dose
    assert dose is not None and dose.kind is DoseKind.PROJECTION
    assert dose.narrative == PHILIPS_U104_NARRATIVE
    for fact in ("0.0784 Gy.cm2", "0.709 mGy", "00:37", "15 radiographic frames", "25 irradiation events"):
        assert fact in dose.narrative
    assert "plane A" in dose.narrative and "plane B" not in dose.narrative
    assert dose.events == 25
    assert report.completion_flag is CompletionFlag.COMPLETE
    # totals of the plane shown only: plane B (all zero) is not summarised
    assert [code for code, _ in dose.totals].count("113722") == 1
    assert any(f.where == "1.10" and "plane B" in f.message for f in report.findings)


def test_philips_private_items_never_reach_the_narrative() -> None:
    report, _ = _extract("philips_allura_clarity_u104.dcm")
    dose = report.content.dose
    assert dose is not None
    for private in ("99PHI", "XPER", "Height of System", "Focal Spot to ISO Center", "Wedges"):
        assert private not in dose.narrative
    private = [f for f in report.findings if "private content item" in f.message]
    assert private and all("99PHI-IXR-XPER" in f.message for f in private)
    accumulated = next(f for f in private if f.where == "1.9")
    assert "1.9.12, 1.9.13" in accumulated.message


def test_philips_dropped_items_are_logged_with_their_paths() -> None:
    report, _ = _extract("philips_allura_clarity_u104.dcm")
    empty_text = [f for f in report.findings if f.message == "TEXT item without a value dropped"]
    images = [f for f in report.findings if f.message.startswith("IMAGE item without a referenced SOP instance")]
    assert len(empty_text) == 25
    assert [f.where for f in images] == ["1.28.6", "1.29.6", "1.31.6"]
    assert all(f.where.startswith("1.") for f in empty_text)
    assert "1.11.39" in {f.where for f in empty_text}


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        ("philips_allura_clarity_u601.dcm", ("0.109 Gy.cm2", "5.53 mGy", "00:55", "12 radiographic frames",
                                             "29 irradiation events")),
        ("siemens_axiom_example_procedure.dcm", ("DSA Body on Siemens AXIOM-Artis (m265904), 2017-12-12.",
                                                 "2.79 Gy.cm2", "14.1 mGy", "01:14", "24 irradiation events")),
    ],
)
def test_other_rdsrs(name: str, facts: tuple[str, ...]) -> None:
    report, _ = _extract(name)
    dose = report.content.dose
    assert dose is not None and dose.kind is DoseKind.PROJECTION
    for fact in facts:
        assert fact in dose.narrative
    assert "plane" not in dose.narrative  # single plane: no plane label
    assert dose.narrative.endswith(DISCLAIMER)


@pytest.mark.parametrize(
    "name",
    ["philips_allura_clarity_u104.dcm", "philips_allura_clarity_u601.dcm", "siemens_axiom_artis.dcm",
     "siemens_axiom_example_procedure.dcm"],
)
def test_highdicom_refuses_rdsrs_the_bridge_reads_them(name: str) -> None:
    hd = pytest.importorskip("highdicom")
    source = str(shared_path("dicom", "sr", "pyskindose", name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):
            hd.sr.srread(source)
    report, _ = _extract(name)  # no exception
    assert report.content.dose is not None and report.content.dose.narrative


# -- synthetic SRs ------------------------------------------------------------------------------------------


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _item(rel: str, vt: str, name: tuple[str, str, str], children: list[Dataset] | None = None,
          **values: object) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = rel, vt
    item.ConceptNameCodeSequence = [_code(*name)]
    if vt == "CONTAINER":
        item.ContinuityOfContent = "SEPARATE"
    for keyword, value in values.items():
        setattr(item, keyword, value)
    if children:
        item.ContentSequence = children
    return item


def _num(name: tuple[str, str, str], value: str, unit: tuple[str, str, str] | None,
         rel: str = "CONTAINS") -> Dataset:
    measured = Dataset()
    measured.NumericValue = value
    if unit is not None:
        measured.MeasurementUnitsCodeSequence = [_code(*unit)]
    return _item(rel, "NUM", name, MeasuredValueSequence=[measured])


def _coded(name: tuple[str, str, str], value: tuple[str, str, str], rel: str = "CONTAINS") -> Dataset:
    return _item(rel, "CODE", name, ConceptCodeSequence=[_code(*value)])


MGY = ("mGy", "UCUM", "mGy")
MGYCM = ("mGy.cm", "UCUM", "mGy.cm")
IEC_BODY = ("113691", "DCM", "IEC Body Dosimetry Phantom")
CHEST = ("51185008", "SCT", "Chest")
ABDOMEN = ("113345001", "SCT", "Abdomen")


def _sr(root: tuple[str, str, str], children: list[Dataset], template: str | None, **attrs: object) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = XRAY_DOSE_SR
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = next_uids(3)
    ds.Modality, ds.PatientID, ds.PatientName = "SR", "P-001", "Test^Patient"
    ds.StudyDate, ds.StudyTime, ds.ContentDate, ds.ContentTime = "20240102", "101112", "20240102", "103000"
    ds.Manufacturer, ds.ManufacturerModelName = "Siemens", "SOMATOM Force"
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = [_code(*root)]
    if template is not None:
        tid = Dataset()
        tid.MappingResource, tid.TemplateIdentifier = "DCMR", template
        ds.ContentTemplateSequence = [tid]
    ds.ContentSequence = children
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def _ct_event(protocol: str, region: tuple[str, str, str], ctdi: str, dlp: str) -> Dataset:
    dose = _item("CONTAINS", "CONTAINER", ("113829", "DCM", "CT Dose"), [
        _num(("113830", "DCM", "Mean CTDIvol"), ctdi, MGY),
        _coded(("113835", "DCM", "CTDIw Phantom Type"), IEC_BODY),
        _num(("113838", "DCM", "DLP"), dlp, MGYCM),
        _num(("113930", "DCM", "Size Specific Dose Estimation"), "99.9", MGY),
    ])
    return _item("CONTAINS", "CONTAINER", ("113819", "DCM", "CT Acquisition"), [
        _item("CONTAINS", "TEXT", ("125203", "DCM", "Acquisition Protocol"), TextValue=protocol),
        _coded(("123014", "DCM", "Target Region"), region),
        _coded(("113820", "DCM", "CT Acquisition Type"), ("113804", "DCM", "Sequenced Acquisition")),
        dose,
    ])


def ct_dose_sr(events: list[Dataset], template: str | None = "10011", procedure: bool = True) -> Dataset:
    """A TID 10011 CT dose SR: device observer, start/end, accumulated data and the given CT acquisitions."""
    dlp_total = sum(float(e.ContentSequence[-1].ContentSequence[2].MeasuredValueSequence[0].NumericValue)
                    for e in events)
    children = [
        _coded(("121005", "DCM", "Observer Type"), ("121007", "DCM", "Device"), "HAS OBS CONTEXT"),
        _item("HAS OBS CONTEXT", "UIDREF", ("121012", "DCM", "Device Observer UID"), UID="1.2.826.0.1.3680043.10.1"),
        _item("HAS OBS CONTEXT", "TEXT", ("121013", "DCM", "Device Observer Name"), TextValue="CT01"),
        _item("HAS OBS CONTEXT", "DATETIME", ("113809", "DCM", "Start of X-Ray Irradiation"),
              DateTime="20240102101500"),
        _item("HAS OBS CONTEXT", "DATETIME", ("113810", "DCM", "End of X-Ray Irradiation"),
              DateTime="20240102102500"),
        _item("CONTAINS", "CONTAINER", ("113811", "DCM", "CT Accumulated Dose Data"), [
            _num(("113812", "DCM", "Total Number of Irradiation Events"), str(len(events)),
                 ("{events}", "UCUM", "events")),
            _num(("113813", "DCM", "CT Dose Length Product Total"), f"{dlp_total:.2f}", MGYCM),
            _num(("113814", "DCM", "CT Effective Dose Total"), "7.5", ("mSv", "UCUM", "mSv")),
        ]),
        *events,
    ]
    if procedure:
        ct = ("P5-08000", "SRT", "Computed Tomography X-Ray")  # legacy SRT id of SCT 77477000
        children.insert(0, _coded(("121058", "DCM", "Procedure reported"), ct, "HAS CONCEPT MOD"))
    return _sr(("113701", "DCM", "X-Ray Radiation Dose Report"), children, template)


THREE_EVENTS = [
    ("Topogram", CHEST, "0.13", "6.5"),
    ("Thorax 1.0", CHEST, "5.123", "180.44"),
    ("Abdomen 1.0", ABDOMEN, "7.7", "312.6"),
]
CT_NARRATIVE = (
    "CT Chest, Abdomen on Siemens SOMATOM Force, 2024-01-02. 3 irradiation events; total DLP 500 mGy.cm. "
    "Topogram: CTDIvol 0.130 mGy (IEC Body Dosimetry Phantom), DLP 6.50 mGy.cm; "
    "Thorax 1.0: CTDIvol 5.12 mGy (IEC Body Dosimetry Phantom), DLP 180 mGy.cm; "
    "Abdomen 1.0: CTDIvol 7.70 mGy (IEC Body Dosimetry Phantom), DLP 313 mGy.cm. " + DISCLAIMER
)


def test_ct_dose_sr_narrative() -> None:
    ds = ct_dose_sr([_ct_event(*e) for e in THREE_EVENTS])
    report = extract_dose_report(ds, "ct.dcm")
    dose = report.content.dose
    assert dose is not None
    assert dose.kind is DoseKind.CT
    assert dose.narrative == CT_NARRATIVE
    assert dose.events == 3
    assert dose.started == DicomDateTime("2024-01-02T10:15:00")
    assert dose.ended == DicomDateTime("2024-01-02T10:25:00")
    assert [(code, q.value, q.ucum) for code, q in dose.totals] == [("113812", "3", "{events}"),
                                                                   ("113813", "499.54", "mGy.cm")]
    assert "mSv" not in dose.narrative and "7.5" not in dose.narrative  # 113814 effective dose ignored
    assert "99.9" not in dose.narrative  # SSDE off
    assert dose.device is not None and dose.device.uid == "1.2.826.0.1.3680043.10.1" and dose.device.name == "CT01"
    assert report.manufacturer_generated


@pytest.mark.parametrize(("template", "procedure"), [(None, True), (None, False)])
def test_ct_recognised_without_template(template: str | None, procedure: bool) -> None:
    ds = ct_dose_sr([_ct_event(*e) for e in THREE_EVENTS], template=template, procedure=procedure)
    assert dose_kind(walk(ds, "ct.dcm").root) is DoseKind.CT
    dose = extract_dose_report(ds, "ct.dcm").content.dose
    assert dose is not None and dose.narrative == CT_NARRATIVE


def test_ct_lists_ten_events_then_the_rest_as_a_count() -> None:
    events = [_ct_event(f"Series {i}", CHEST, "4.0", "100") for i in range(1, 13)]
    dose = extract_dose_report(ct_dose_sr(events), "ct12.dcm").content.dose
    assert dose is not None and dose.events == 12
    assert "12 irradiation events; total DLP 1200 mGy.cm." in dose.narrative
    assert "Series 10: CTDIvol 4.00 mGy (IEC Body Dosimetry Phantom), DLP 100 mGy.cm; and 2 more. " in dose.narrative
    assert "Series 11" not in dose.narrative and "Series 12" not in dose.narrative
    assert dose.narrative.startswith("CT Chest on Siemens SOMATOM Force, 2024-01-02.")


def test_projection_recognised_by_children_and_procedure() -> None:
    plane = _item("CONTAINS", "CONTAINER", ("113702", "DCM", "Accumulated X-Ray Dose Data"), [
        _coded(("113764", "DCM", "Acquisition Plane"), ("113622", "DCM", "Single Plane"), "HAS CONCEPT MOD"),
        _num(("113722", "DCM", "Dose Area Product Total"), "0.00012345", ("Gy.m2", "UCUM", "Gy.m2")),
        _num(("113725", "DCM", "Dose (RP) Total"), "0.0456", ("Gy", "UCUM", "Gy")),
        _num(("113730", "DCM", "Total Fluoro Time"), "3725", ("s", "UCUM", "s")),
        _coded(("113780", "DCM", "Reference Point Definition"),
               ("113860", "DCM", "15cm from Isocenter toward Source")),
    ])
    ds = _sr(("113701", "DCM", "X-Ray Radiation Dose Report"), [plane], None, StudyDescription="Angio",
             StudyDate=None)  # no Study Date: the Content Date is used
    dose = extract_dose_report(ds, "xa.dcm").content.dose
    assert dose is not None and dose.kind is DoseKind.PROJECTION
    assert dose.narrative == (
        "Angio on Siemens SOMATOM Force, 2024-01-02. Fluoroscopy time 62:05; dose area product total 1.23 Gy.cm2; "
        "reference point air kerma total 45.6 mGy (15cm from Isocenter toward Source); 0 irradiation events. "
        + DISCLAIMER
    )


def test_radiopharmaceutical_administration() -> None:
    administration = _item("CONTAINS", "CONTAINER", ("113502", "DCM", "Radiopharmaceutical Administration"), [
        _coded(("349358000", "SCT", "Radiopharmaceutical agent"), ("35321007", "SCT", "Fluorodeoxyglucose F^18^")),
        _item("CONTAINS", "DATETIME", ("123003", "DCM", "Radiopharmaceutical Start DateTime"),
              DateTime="20240102093000"),
        _num(("113507", "DCM", "Administered activity"), "352.4", ("MBq", "UCUM", "MBq")),
        _coded(("410675002", "SCT", "Route of administration"), ("47625008", "SCT", "Intravenous route")),
    ])
    ds = _sr(("113500", "DCM", "Radiopharmaceutical Radiation Dose Report"), [administration], "10021",
             SOPClassUID="1.2.840.10008.5.1.4.1.1.88.68")
    dose = extract_dose_report(ds, "nm.dcm").content.dose
    assert dose is not None and dose.kind is DoseKind.RADIOPHARMACEUTICAL
    assert dose.narrative == "Fluorodeoxyglucose F^18^ 352 MBq Intravenous route, 2024-01-02 09:30."
    assert dose.started == DicomDateTime("2024-01-02T09:30:00")
    assert [code for code, _ in dose.totals] == ["113507"]


def test_patient_dose_report_has_no_narrative() -> None:
    estimate = _num(("113839", "DCM", "Effective Dose"), "3.2", ("mSv", "UCUM", "mSv"))
    ds = _sr(("128401", "DCM", "Patient Radiation Dose Report"), [estimate], None,
             SOPClassUID="1.2.840.10008.5.1.4.1.1.88.73")
    report = extract_dose_report(ds, "pd.dcm")
    dose = report.content.dose
    assert dose is not None and dose.kind is DoseKind.PATIENT and dose.narrative == ""
    assert any("registered only" in f.message for f in report.findings)


def test_malformed_tree_never_raises() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid DS and DT values it is asked to store
        ds = _malformed_dose_sr()
    report = extract_dose_report(ds, "bad.dcm")
    dose = report.content.dose
    assert dose is not None and dose.kind is DoseKind.PROJECTION
    assert "secret" not in dose.narrative and "furlong" not in dose.narrative
    assert dose.started is None
    wheres = {f.where for f in report.findings}
    assert {"1.1.1", "1.1.2", "1.1.3", "1.2.1", "1.3"} <= wheres
    assert any("99PRIV" in f.message and "1.2.2" in f.message for f in report.findings)


def _malformed_dose_sr() -> Dataset:
    plane = _item("CONTAINS", "CONTAINER", ("113702", "DCM", "Accumulated X-Ray Dose Data"), [
        _item("CONTAINS", "NUM", ("113722", "DCM", "Dose Area Product Total")),  # no Measured Value Sequence
        _num(("113725", "DCM", "Dose (RP) Total"), "3", ("furlong", "UCUM", "furlong")),
        _num(("113731", "DCM", "Total Number of Radiographic Frames"), "NaN", ("1", "UCUM", "no units")),
        _item("CONTAINS", "CODE", ("113780", "DCM", "Reference Point Definition")),  # CODE without a code
    ])
    event = _item("CONTAINS", "CONTAINER", ("113706", "DCM", "Irradiation Event X-Ray Data"), [
        _item("CONTAINS", "DATETIME", ("111526", "DCM", "DateTime Started"), DateTime="yesterday"),
        _item("CONTAINS", "TEXT", ("999", "99PRIV", "Private note"), TextValue="secret"),
    ])
    return _sr(("113701", "DCM", "X-Ray Radiation Dose Report"), [plane, event, Dataset()], "10001")


def test_summary_failure_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(dose_module._Summariser, "projection", broken)
    report, _ = _extract("siemens_axiom_artis.dcm")
    assert report.content.dose is not None and report.content.dose.narrative == ""
    assert any(f.severity is Severity.ERROR and "boom" in f.message for f in report.findings)


def test_shared_corpus_is_beside_the_repository() -> None:
    assert shared_path("dicom", "sr", "pyskindose").is_dir()
    assert Path(shared_path("dicom", "sr", "pyskindose", "NOTICE.md")).is_file()
