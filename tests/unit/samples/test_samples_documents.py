"""The study's other objects: TID 1500 measurements, CT dose SR (TID 10011), key image note (TID 2010) and PDF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import highdicom as hd
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import (
    Comprehensive3DSRStorage,
    EncapsulatedPDFStorage,
    KeyObjectSelectionDocumentStorage,
    XRayRadiationDoseSRStorage,
)

from bridge.samples import write_samples
from bridge.samples.pdf import pdf_bytes

MEASUREMENTS = "ct-chest/measurements/SR0001.dcm"
DOSE = "ct-chest/dose/SR0001.dcm"
KEY_IMAGES = "ct-chest/key-images/KO0001.dcm"
PDF = "ct-chest/pdf/DOC0001.dcm"
# name: (SOP class, modality, series number, series description)
OBJECTS = {
    MEASUREMENTS: (Comprehensive3DSRStorage, "SR", 100, "Lung nodule CAD"),
    DOSE: (XRayRadiationDoseSRStorage, "SR", 997, "Dose Report"),
    KEY_IMAGES: (KeyObjectSelectionDocumentStorage, "KO", 101, "Key images"),
    PDF: (EncapsulatedPDFStorage, "DOC", 102, "Radiology report (PDF)"),
}


@pytest.fixture(scope="module")
def sample_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("samples")
    return {path.relative_to(root).as_posix(): path for path in write_samples(root)}


@pytest.fixture(scope="module")
def datasets(sample_paths: dict[str, Path]) -> dict[str, Dataset]:
    return {name: dcmread(path) for name, path in sample_paths.items()}


def _ct(datasets: dict[str, Dataset], series: int, instance: int) -> Dataset:
    return datasets[f"ct-chest/series-{series}/IM{instance:04d}.dcm"]


def _code(item: Dataset) -> tuple[str, str]:
    concept = item.ConceptNameCodeSequence[0]
    return concept.CodingSchemeDesignator, concept.CodeValue


def _value_code(item: Dataset) -> tuple[str, str]:
    concept = item.ConceptCodeSequence[0]
    return concept.CodingSchemeDesignator, concept.CodeValue


def _find(item: Dataset, scheme: str, code: str) -> list[Dataset]:
    """Return the children of ``item`` with concept name (scheme, code), in document order."""
    named = (child for child in item.ContentSequence if "ConceptNameCodeSequence" in child)
    return [child for child in named if _code(child) == (scheme, code)]


def _one(item: Dataset, scheme: str, code: str) -> Dataset:
    [child] = _find(item, scheme, code)
    return child


def _num(item: Dataset) -> tuple[Decimal, str]:
    """Return the value (exact, from the DS string) and UCUM unit of a NUM item."""
    [measured] = item.MeasuredValueSequence
    unit = measured.MeasurementUnitsCodeSequence[0]
    assert unit.CodingSchemeDesignator == "UCUM"
    return Decimal(str(measured.NumericValue)), unit.CodeValue


def _walk(item: Dataset) -> Iterator[Dataset]:
    for child in item.get("ContentSequence", []):
        yield child
        yield from _walk(child)


# --- all four objects ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OBJECTS))
def test_object_belongs_to_the_sample_study_in_its_own_series(datasets: dict[str, Dataset], name: str) -> None:
    ds = datasets[name]
    sop_class, modality, series_number, description = OBJECTS[name]
    ct = _ct(datasets, 1, 1)
    assert (ds.SOPClassUID, ds.file_meta.MediaStorageSOPClassUID) == (sop_class, sop_class)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert (ds.Modality, ds.SeriesNumber, ds.SeriesDescription, ds.InstanceNumber) == (
        modality,
        series_number,
        description,
        1,
    )
    for keyword in ("StudyInstanceUID", "PatientID", "IssuerOfPatientID", "PatientName", "AccessionNumber"):
        assert ds[keyword].value == ct[keyword].value, keyword
    assert ds.IssuerOfAccessionNumberSequence[0].LocalNamespaceEntityID == "HOSPITAL-A-RIS"
    assert (ds.SpecificCharacterSet, ds.TimezoneOffsetFromUTC) == ("ISO_IR 192", "+0100")
    assert ds.file_meta.ImplementationVersionName == "DICOMBRIDGE_S1"
    assert ds.InstanceCreationDate == "20240315"


def test_every_object_has_its_own_series_and_instance_uid(datasets: dict[str, Dataset]) -> None:
    series = {ds.SeriesInstanceUID for ds in datasets.values()}
    instances = {ds.SOPInstanceUID for ds in datasets.values()}
    assert len(series) == 2 + 1 + len(OBJECTS)  # two CT series, the TID 2000 report, one series per object
    assert len(instances) == len(datasets) == 25
    assert len({ds.SeriesNumber for ds in datasets.values()}) == len(series)


# --- TID 1500 measurement report ------------------------------------------------------------------------------


def test_measurement_report_is_a_device_generated_tid_1500(datasets: dict[str, Dataset]) -> None:
    sr = datasets[MEASUREMENTS]
    assert _code(sr) == ("DCM", "126000")
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert (sr.CompletionFlag, sr.VerificationFlag, sr.PreliminaryFlag) == ("COMPLETE", "UNVERIFIED", "FINAL")
    assert "VerifyingObserverSequence" not in sr
    assert (sr.ContentDate, sr.ContentTime) == ("20240315", "102400")
    assert _value_code(_one(sr, "DCM", "121005")) == ("DCM", "121007")  # Observer Type: Device
    assert _one(sr, "DCM", "121013").TextValue == "LUNGCAD01"
    assert _value_code(_one(sr, "DCM", "121058")) == ("SCT", "77477000")
    assert sr.ReferencedRequestSequence[0].AccessionNumber == "ACC-2024-0001"


def test_measurement_group_has_nodule_site_measurements_and_algorithm(sample_paths: dict[str, Path]) -> None:
    report = hd.sr.srread(sample_paths[MEASUREMENTS])
    [group] = report.content.get_planar_roi_measurement_groups()
    assert group.tracking_identifier == "Nodule 1"
    assert group.tracking_uid.startswith("2.25.")
    assert (group.finding_type.scheme_designator, group.finding_type.value) == ("SCT", "27925004")
    [site] = group.finding_sites
    assert (site.value.scheme_designator, site.value.value) == ("SCT", "39607008")
    assert (site.laterality.scheme_designator, site.laterality.value) == ("SCT", "7771000")  # left
    measurements = {(m.name.value, m.value, m.unit.value) for m in group.get_measurements()}
    assert measurements == {("103339001", 9.0, "mm"), ("118565006", 318.0, "mm3")}  # long axis, volume
    margins = hd.sr.CodedConcept(value="111037", scheme_designator="DCM", meaning="Margins")
    evaluations = [(q.name.value, q.value.value) for q in group.get_qualitative_evaluations(name=margins)]
    assert evaluations == [("111037", "129738007")]
    # TID 4019 algorithm identification on the group (and on each measurement): a device-generated result
    [container] = group
    assert _one(container, "DCM", "111001").TextValue == "Example Lung Nodule Detection"
    assert _one(container, "DCM", "111003").TextValue == "2.1.0"


def test_measurement_roi_is_a_circle_on_series_2_image_6(datasets: dict[str, Dataset]) -> None:
    sr = datasets[MEASUREMENTS]
    [group] = _one(sr, "DCM", "126010").ContentSequence
    assert group.ContentTemplateSequence[0].TemplateIdentifier == "1410"
    region = _one(group, "DCM", "111030")
    assert (region.ValueType, region.GraphicType) == ("SCOORD", "CIRCLE")
    assert list(region.GraphicData) == [11.0, 6.0, 11.25, 6.0]
    [source] = region.ContentSequence
    assert source.RelationshipType == "SELECTED FROM"
    image = _ct(datasets, 2, 6)
    assert source.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    [study] = sr.CurrentRequestedProcedureEvidenceSequence
    [series] = study.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == image.SeriesInstanceUID


# --- TID 10011 CT radiation dose SR ---------------------------------------------------------------------------


def test_dose_report_root_and_context_follow_tid_10011(datasets: dict[str, Dataset]) -> None:
    sr = datasets[DOSE]
    assert _code(sr) == ("DCM", "113701")
    template = sr.ContentTemplateSequence[0]
    assert (template.MappingResource, template.TemplateIdentifier) == ("DCMR", "10011")
    assert (sr.CompletionFlag, sr.VerificationFlag) == ("COMPLETE", "UNVERIFIED")
    assert _value_code(_one(sr, "DCM", "121058")) == ("SCT", "77477000")
    assert _value_code(_one(sr, "DCM", "121005")) == ("DCM", "121007")  # Observer Type: Device
    device = {_code(item)[1]: item for item in sr.ContentSequence if item.RelationshipType == "HAS OBS CONTEXT"}
    assert device["121012"].UID.startswith("2.25.")
    assert (device["121013"].TextValue, device["121014"].TextValue, device["121015"].TextValue) == (
        "CT01",
        "Example Medical Systems",
        "Example CT 128",
    )
    assert (device["113809"].DateTime, device["113810"].DateTime) == ("20240315102005+0100", "20240315102052+0100")
    assert _value_code(device["113705"]) == ("DCM", "113014")  # Scope of Accumulation: Study
    assert device["113705"].ContentSequence[0].UID == sr.StudyInstanceUID
    assert _value_code(_one(sr, "DCM", "113854")) == ("DCM", "113856")  # Automated Data Collection
    # the scanner's own equipment, as the Enhanced General Equipment module requires
    assert (sr.Manufacturer, sr.ManufacturerModelName, sr.DeviceSerialNumber) == (
        "Example Medical Systems",
        "Example CT 128",
        "CT128-00417",
    )


def test_dose_totals_are_consistent_with_the_two_events(datasets: dict[str, Dataset]) -> None:
    sr = datasets[DOSE]
    accumulated = _one(sr, "DCM", "113811")
    events = _find(sr, "DCM", "113819")
    assert _num(_one(accumulated, "DCM", "113812")) == (Decimal(2), "{events}")
    assert len(events) == 2
    dlps = [_num(_one(_one(event, "DCM", "113829"), "DCM", "113838")) for event in events]
    assert {unit for _, unit in dlps} == {"mGy.cm"}
    total, unit = _num(_one(accumulated, "DCM", "113813"))
    assert unit == "mGy.cm"
    assert total == sum(value for value, _ in dlps) == Decimal("302.9")


@pytest.mark.parametrize(
    ("index", "protocol", "acquisition_type", "ctdivol", "dlp"),
    [
        (0, "Topogram AP", ("DCM", "113805"), "0.12", "5.4"),
        (1, "Chest routine IV contrast", ("SCT", "116152004"), "8.5", "297.5"),
    ],
)
def test_each_ct_acquisition_event_has_the_tid_10013_items(
    datasets: dict[str, Dataset],
    index: int,
    protocol: str,
    acquisition_type: tuple[str, str],
    ctdivol: str,
    dlp: str,
) -> None:
    sr = datasets[DOSE]
    event = _find(sr, "DCM", "113819")[index]
    assert _one(event, "DCM", "125203").TextValue == protocol
    assert _value_code(_one(event, "DCM", "123014")) == ("SCT", "816094009")  # Chest
    assert _value_code(_one(event, "DCM", "113820")) == acquisition_type
    assert _one(event, "DCM", "113769").UID.startswith("2.25.")
    dose = _one(event, "DCM", "113829")
    assert _num(_one(dose, "DCM", "113830")) == (Decimal(ctdivol), "mGy")
    assert _value_code(_one(dose, "DCM", "113835")) == ("DCM", "113691")  # IEC Body Dosimetry Phantom
    assert _num(_one(dose, "DCM", "113838")) == (Decimal(dlp), "mGy.cm")
    parameters = _one(event, "DCM", "113822")
    assert _num(_one(_one(parameters, "DCM", "113831"), "DCM", "113733")) == (Decimal(120), "kV")


def test_helical_ctdivol_matches_the_ct_images(datasets: dict[str, Dataset]) -> None:
    helical = _find(datasets[DOSE], "DCM", "113819")[1]
    ctdivol, _ = _num(_one(_one(helical, "DCM", "113829"), "DCM", "113830"))
    assert ctdivol == Decimal(str(_ct(datasets, 1, 1).CTDIvol))
    event_uids = [_one(event, "DCM", "113769").UID for event in _find(datasets[DOSE], "DCM", "113819")]
    assert len(set(event_uids)) == 2


def test_dose_report_uses_by_value_relationships_only(datasets: dict[str, Dataset]) -> None:
    # PS3.3 A.35.8.3.1.3: no by-reference relationships in the X-Ray Radiation Dose SR IOD
    assert all("ReferencedContentItemIdentifier" not in item for item in _walk(datasets[DOSE]))


# --- TID 2010 key object selection ----------------------------------------------------------------------------


def test_key_object_selection_is_an_of_interest_note_with_description(datasets: dict[str, Dataset]) -> None:
    ko = datasets[KEY_IMAGES]
    assert _code(ko) == ("DCM", "113000")
    assert ko.ContentTemplateSequence[0].TemplateIdentifier == "2010"
    description = _one(ko, "DCM", "113012")
    assert (description.ValueType, description.TextValue) == (
        "TEXT",
        "Nodule in the left upper lobe, best seen on these slices",
    )
    assert ko.ReferencedRequestSequence[0].AccessionNumber == "ACC-2024-0001"


def test_key_images_are_two_of_series_1_and_one_of_series_2_listed_in_the_evidence(
    datasets: dict[str, Dataset],
) -> None:
    ko = datasets[KEY_IMAGES]
    expected = [_ct(datasets, 1, 1), _ct(datasets, 1, 2), _ct(datasets, 2, 6)]
    images = [item for item in ko.ContentSequence if item.ValueType == "IMAGE"]
    assert [item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for item in images] == [
        ds.SOPInstanceUID for ds in expected
    ]
    assert all(item.RelationshipType == "CONTAINS" and "ConceptNameCodeSequence" not in item for item in images)
    [study] = ko.CurrentRequestedProcedureEvidenceSequence
    assert study.StudyInstanceUID == ko.StudyInstanceUID
    evidence = {
        (series.SeriesInstanceUID, sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID)
        for series in study.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    }
    assert evidence == {(ds.SeriesInstanceUID, ds.SOPClassUID, ds.SOPInstanceUID) for ds in expected}
    assert len(study.ReferencedSeriesSequence) == 2


# --- Encapsulated PDF -----------------------------------------------------------------------------------------


def test_encapsulated_pdf_header(datasets: dict[str, Dataset]) -> None:
    ds = datasets[PDF]
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.DocumentTitle == "CT Chest report (PDF)"
    assert _code(ds) == ("LN", "18748-4")
    assert (ds.ContentDate, ds.ContentTime) == ("20240315", "143000")
    assert ds.BurnedInAnnotation == "YES"
    assert "SourceInstanceSequence" not in ds


def test_encapsulated_pdf_decodes_back_to_the_exact_pdf_bytes(
    datasets: dict[str, Dataset], sample_paths: dict[str, Path]
) -> None:
    ds = datasets[PDF]
    pdf = pdf_bytes()
    assert len(pdf) % 2 == 1  # so the OB value needs its pad byte
    assert ds.EncapsulatedDocumentLength == len(pdf)
    assert ds.EncapsulatedDocument == pdf + b"\x00"
    assert ds.EncapsulatedDocument[: ds.EncapsulatedDocumentLength] == pdf
    assert pdf in sample_paths[PDF].read_bytes()


def test_pdf_is_a_well_formed_one_page_pdf_1_4() -> None:
    pdf = pdf_bytes()
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF")
    assert pdf_bytes() == pdf  # deterministic
    trailer = re.search(rb"startxref\n(\d+)\n%%EOF$", pdf)
    assert trailer is not None
    startxref = int(trailer.group(1))
    assert pdf[startxref:].startswith(b"xref\n0 6\n")
    entries = pdf[startxref + len(b"xref\n0 6\n") :].split(b"trailer")[0]
    assert len(entries) == 6 * 20  # fixed-width entries
    for number, entry in enumerate(entries[i : i + 20] for i in range(0, len(entries), 20)):
        if number == 0:
            assert entry == b"0000000000 65535 f \n"
            continue
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj\n" % number)
    stream_length = re.search(rb"/Length (\d+) >>\nstream\n", pdf)
    assert stream_length is not None
    length = int(stream_length.group(1))
    stream = pdf.split(b"stream\n", 1)[1]
    assert stream[length:].startswith(b"\nendstream")
    assert b"/Count 1" in pdf and b"(Synthetic sample report ACC-2024-0001" in pdf


@pytest.mark.parametrize("text", ["a", "ab", "Nodule (left) \\ 9 mm"])
def test_pdf_length_is_odd_for_any_text(text: str) -> None:
    pdf = pdf_bytes(text)
    assert len(pdf) % 2 == 1
    startxref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[startxref:].startswith(b"xref\n")
