"""Manifest KOS -> ManifestDescription (mado.md §2): the IHE sample, template-correct manifests in the three code
generations, XDS-I.b manifests, and the deviations the reader tolerates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from bridge.extract.sr.kos import classify_key_objects, extract_key_objects
from bridge.extract.sr.mado import read_manifest
from bridge.extract.sr.tree import walk
from bridge.model import Code, KeyObjectClass, Severity
from bridge.model.manifest import ManifestDescription
from tests.conftest import shared_path
from tests.factories import next_uids
from tests.sr_factory import code, coded, document_dataset, item, text

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"
KOS_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ACQ = "HAS ACQ CONTEXT"

STUDY_B = "1.2.250.1.59.40211.22756022.2.1.102"
CT_SERIES = "1.2.250.1.59.40211.22756022.2.2.102.201"
KIN_SERIES = "1.2.250.1.59.40211.22756022.2.2.102.202"
KIN = "1.2.250.1.59.40211.22756022.2.3.102.202.31"
DISPLAY_URI_B = ("https://dicomviewer/IHEInvokeImageDisplay?requestType=STUDY&studyUID="
                 "1.2.250.1.59.40211.22756022.2.1.102")
ELGA_US = "1.2.826.0.1.3680043.2.1043.693076.0.66982.83.3.1.dcm"
ELGA_CR = "1.3.12.2.1107.5.8.2.100041.2024082003211020554540005234.1.dcm"
ELGA_MR = "GK17285-KOS.dcm"

# (final DCM, MADO TI 99IHE, CP-2595 ballot) codes of mado.md §2.1, as a producer of each generation writes them
GENERATIONS = {
    "final": {"title": ("131560", "DCM"), "date": ("131561", "DCM"), "time": ("131562", "DCM"),
              "description": ("131563", "DCM"), "instances": ("131564", "DCM"), "series": ("131565", "DCM")},
    "trial": {"title": ("MADOTEMP001", "99IHE"), "date": ("MADOTEMP003", "99IHE"), "time": ("MADOTEMP004", "99IHE"),
              "description": ("MADOTEMP002", "99IHE"), "instances": ("MADOTEMP007", "99IHE"),
              "series": ("MADOTEMP009", "99IHE")},
    "ballot": {"title": ("ddd001", "DCM"), "date": ("ddd003", "DCM"), "time": ("ddd004", "DCM"),
               "description": ("ddd002", "DCM"), "instances": ("ddd007", "DCM"), "series": ("ddd009", "DCM")},
}
MEANINGS = {"title": "Manifest with Description", "date": "Series Date", "time": "Series Time",
            "description": "Series Description", "instances": "Number of Series Related Instances",
            "series": "Number of Study Related Series"}


def read(ds: Dataset, source: str = "manifest.dcm") -> ManifestDescription:
    return read_manifest(ds, walk(ds, source), source)


# -- a template-correct manifest built in code ------------------------------------------------------------------


@dataclass
class Shared:
    """What a synthetic manifest shares: a CT series (2 single-frame + 1 multi-frame) and a key image note."""

    study: str
    ct_series: str
    ct: list[str]
    kin_series: str
    kin: str


def shared() -> Shared:
    study, ct_series, kin_series, kin, *ct = next_uids(7)
    return Shared(study, ct_series, ct, kin_series, kin)


def num(name: tuple[str, str, str], value: str, unit: tuple[str, str, str], relationship: str = ACQ) -> Dataset:
    measured = Dataset()
    measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence = DicomSequence([code(*unit)])
    return item("NUM", name, relationship, MeasuredValueSequence=DicomSequence([measured]))


def reference(value_type: str, sop_class: str, sop_instance: str, children: Sequence[Dataset] = ()) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = sop_class, sop_instance
    return item(value_type, None, ReferencedSOPSequence=DicomSequence([ref]), children=list(children))


def mado_manifest(s: Shared, generation: str = "final", *, siblings: bool = False,
                  display_uri: str | None = "https://viewer.example.org/launch?study=1") -> Dataset:
    """A MADO KOS per TF-3 6.X.2.9 in the codes of ``generation``; ``siblings`` writes the TI sample's layout."""
    g = {key: (*value, MEANINGS[key]) for key, value in GENERATIONS[generation].items()}
    ds = document_dataset(s.study, KOS_CLASS, "KO")
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = DicomSequence([code(*g["title"])])
    template = Dataset()
    template.MappingResource, template.TemplateIdentifier = "DCMR", "2010"
    ds.ContentTemplateSequence = DicomSequence([template])
    ds.TimezoneOffsetFromUTC = "+0100"

    def entry(value_type: str, sop_class: str, uid: str, descriptors: list[Dataset]) -> list[Dataset]:
        if siblings:
            return [*descriptors, reference(value_type, sop_class, uid)]
        return [reference(value_type, sop_class, uid, descriptors)]

    ct_entries: list[Dataset] = []
    for n, uid in enumerate(s.ct, 1):
        descriptors = [text(("113609", "DCM", "Instance Number"), str(n), ACQ)]
        multiframe = n == 3
        if multiframe:
            descriptors.append(num(("121140", "DCM", "Number of Frames"), "5", ("{frames}", "UCUM", "frames")))
        ct_entries.extend(entry("IMAGE", ENHANCED_CT if multiframe else CT_IMAGE, uid, descriptors))
    ct_group = item("CONTAINER", ("126200", "DCM", "Image Library Group"), children=[
        coded(("121139", "DCM", "Modality"), ("CT", "DCM", "CT"), ACQ),
        item("DATE", g["date"], ACQ, Date="20240102"),
        item("TIME", g["time"], ACQ, Time="101112.5"),
        text(g["description"], "Thorax", ACQ),
        text(("113607", "DCM", "Series Number"), "3", ACQ),
        item("UIDREF", ("112002", "DCM", "Series Instance UID"), ACQ, UID=s.ct_series),
        coded(("123014", "DCM", "Target Region"), ("51185008", "SCT", "Thorax"), ACQ),
        coded(("111027", "DCM", "Image Laterality"), ("24028007", "SCT", "Right"), ACQ),
        num(g["instances"], "3", ("{instances}", "UCUM", "instances")),
        *ct_entries,
    ])
    kin_group = item("CONTAINER", ("126200", "DCM", "Image Library Group"), children=[
        coded(("121139", "DCM", "Modality"), ("KO", "DCM", "KO"), ACQ),
        text(("113607", "DCM", "Series Number"), "90", ACQ),
        item("UIDREF", ("112002", "DCM", "Series Instance UID"), ACQ, UID=s.kin_series),
        num(g["instances"], "1", ("{instances}", "UCUM", "instances")),
        *entry("COMPOSITE", KOS_CLASS, s.kin, [
            coded(("121144", "DCM", "Document Title"), ("113000", "DCM", "Of Interest"), ACQ),
            text(("113012", "DCM", "Key Object Description"), "Lesion", ACQ),
        ]),
    ])
    library = item("CONTAINER", ("111028", "DCM", "Image Library"), children=[
        coded(("121139", "DCM", "Modality"), ("CT", "DCM", "CT"), ACQ),
        coded(("121139", "DCM", "Modality"), ("KO", "DCM", "KO"), ACQ),
        coded(("123014", "DCM", "Target Region"), ("67734004", "SCT", "Upper trunk"), ACQ),
        num(g["series"], "2", ("{series}", "UCUM", "series")),
        ct_group,
        kin_group,
    ])
    flat = [reference("IMAGE", CT_IMAGE, uid) for uid in s.ct] + [reference("COMPOSITE", KOS_CLASS, s.kin)]
    ds.ContentSequence = DicomSequence([library, *flat])
    study_item = Dataset()
    study_item.StudyInstanceUID = s.study
    series_items = []
    for series_uid, refs, location in (
        (s.ct_series, [(CT_IMAGE, s.ct[0]), (CT_IMAGE, s.ct[1]), (ENHANCED_CT, s.ct[2])], "1.2.3.4.1"),
        (s.kin_series, [(KOS_CLASS, s.kin)], "1.2.3.4.2"),
    ):
        series_item = Dataset()
        series_item.SeriesInstanceUID = series_uid
        series_item.RetrieveLocationUID = location
        series_item.RetrieveURL = "https://pacs.example.org/dicomweb"
        series_item.RetrieveAETitle = "PACS"
        sops = []
        for sop_class, uid in refs:
            sop = Dataset()
            sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID = sop_class, uid
            sops.append(sop)
        series_item.ReferencedSOPSequence = DicomSequence(sops)
        series_items.append(series_item)
    study_item.ReferencedSeriesSequence = DicomSequence(series_items)
    if display_uri is not None:
        study_item.add_new(0x0040E012, "UR", display_uri)
        ds.add_new(0x0040E012, "UR", display_uri)
    ds.CurrentRequestedProcedureEvidenceSequence = DicomSequence([study_item])
    return ds


def assert_synthetic(manifest: ManifestDescription, s: Shared) -> None:
    assert manifest.mado is True
    assert manifest.study_instance_uid == s.study
    assert manifest.display_uri == "https://viewer.example.org/launch?study=1"
    assert manifest.modalities == ("CT", "KO")
    assert manifest.target_regions == (Code(SCT, "67734004", "Upper trunk"),)
    assert manifest.series_count == 2
    ct, kin = manifest.series
    assert ct.series_instance_uid == s.ct_series
    assert ct.retrieve.retrieve_location_uid == "1.2.3.4.1"
    assert ct.retrieve.wado_rs_base_url == "https://pacs.example.org/dicomweb"
    assert ct.retrieve.retrieve_ae_title == "PACS"
    assert (ct.modality, ct.date, ct.time, ct.description, ct.number) == ("CT", "20240102", "101112.5", "Thorax", "3")
    assert ct.target_region == Code(SCT, "51185008", "Thorax")
    assert ct.target_region_text is None
    assert ct.laterality == Code(SCT, "24028007", "Right")
    assert ct.instance_count == 3
    assert [e.sop_instance_uid for e in ct.entries] == s.ct
    assert [e.instance_number for e in ct.entries] == ["1", "2", "3"]
    assert [e.number_of_frames for e in ct.entries] == [None, None, 5]
    assert ct.entries[2].sop_class_uid == ENHANCED_CT
    assert [uid for _, uid in ct.references] == s.ct
    assert kin.series_instance_uid == s.kin_series
    assert kin.retrieve.retrieve_location_uid == "1.2.3.4.2"
    assert (kin.modality, kin.number, kin.instance_count, kin.date) == ("KO", "90", 1, None)
    (entry,) = kin.entries
    assert entry.sop_instance_uid == s.kin
    assert entry.document_title == Code(DCM, "113000", "Of Interest")
    assert entry.description == "Lesion"
    assert entry.instance_number is None


@pytest.mark.parametrize("generation", ["final", "trial", "ballot"])
def test_template_correct_manifest_in_each_code_generation(generation: str) -> None:
    s = shared()
    ds = mado_manifest(s, generation)
    report = extract_key_objects(ds, "manifest.dcm")
    assert report.content.key_object_class is KeyObjectClass.MANIFEST
    manifest = report.content.manifest
    assert manifest is not None
    assert manifest.sop_instance_uid == ds.SOPInstanceUID
    assert manifest.title is not None and manifest.title.code == GENERATIONS[generation]["title"][0]
    assert_synthetic(manifest, s)
    assert manifest.findings == ()
    assert report.findings == ()


@pytest.mark.parametrize("generation", ["final", "trial", "ballot"])
def test_title_alone_classifies_as_manifest(generation: str) -> None:
    ds = mado_manifest(shared(), generation)
    ds.ContentSequence = DicomSequence(list(ds.ContentSequence)[1:])  # the flat list only, no Image Library
    assert classify_key_objects(walk(ds, "m.dcm").root, None) is KeyObjectClass.MANIFEST
    manifest = read(ds)
    assert manifest.mado is True
    assert [s.entries for s in manifest.series] == [(), ()]
    assert [f.where for f in manifest.findings] == ["1"]  # no Image Library
    assert "no Image Library" in manifest.findings[0].message


def test_ballot_placeholders_match_in_any_scheme() -> None:
    s = shared()
    ds = mado_manifest(s, "ballot")
    ds.ConceptNameCodeSequence = DicomSequence([code("ddd001", "99CP2595", "Manifest with Description")])
    assert classify_key_objects(walk(ds, "m.dcm").root, None) is KeyObjectClass.MANIFEST


def test_trial_codes_need_the_99ihe_scheme() -> None:
    s = shared()
    ds = mado_manifest(s, "trial")
    group = ds.ContentSequence[0].ContentSequence[4]
    group.ContentSequence[1].ConceptNameCodeSequence[0].CodingSchemeDesignator = "99OTHER"  # MADOTEMP003 elsewhere
    assert read(ds).series[0].date is None


def test_siblings_layout_of_the_ti_sample_is_read_with_one_finding_per_group() -> None:
    s = shared()
    manifest = read(mado_manifest(s, siblings=True))
    assert_synthetic(manifest, s)
    assert [(f.where, f.severity) for f in manifest.findings] == [("1.1.5", Severity.INFO), ("1.1.6", Severity.INFO)]
    assert all("siblings" in f.message for f in manifest.findings)


def test_display_uri_in_the_evidence_item_only() -> None:
    s = shared()
    ds = mado_manifest(s)
    del ds[0x0040E012]
    assert read(ds).display_uri == "https://viewer.example.org/launch?study=1"


def test_display_uri_top_level_wins() -> None:
    s = shared()
    ds = mado_manifest(s)
    ds[0x0040E012].value = "https://top.example.org/"
    assert read(ds).display_uri == "https://top.example.org/"


def test_display_uri_from_the_ti_private_tag_in_any_block() -> None:
    s = shared()
    ds = mado_manifest(s, display_uri=None)
    study_item = ds.CurrentRequestedProcedureEvidenceSequence[0]
    study_item.add_new(0x000D0010, "LO", "SOME_OTHER_CREATOR")
    study_item.add_new(0x000D1001, "UR", "https://wrong.example.org/")
    study_item.add_new(0x000D0012, "LO", "IHE_MADO_PRIVATE")  # block 0x12, not 0x11 as in the IHE sample
    study_item.add_new(0x000D1201, "UR", "https://private.example.org/launch")
    assert read(ds).display_uri == "https://private.example.org/launch"
    assert read(mado_manifest(s, display_uri=None)).display_uri is None


def test_retrieve_values_fall_back_to_the_study_item() -> None:
    s = shared()
    ds = mado_manifest(s)
    study_item = ds.CurrentRequestedProcedureEvidenceSequence[0]
    study_item.RetrieveAETitle = "STUDYAE"
    study_item.RetrieveURL = "https://study-level.example.org/rs"
    series_item = study_item.ReferencedSeriesSequence[1]
    del series_item.RetrieveAETitle
    del series_item.RetrieveURL
    ct, kin = read(ds).series
    assert ct.retrieve.retrieve_ae_title == "PACS"
    assert (kin.retrieve.retrieve_ae_title, kin.retrieve.wado_rs_base_url) == (
        "STUDYAE", "https://study-level.example.org/rs")
    assert kin.retrieve.retrieve_location_uid == "1.2.3.4.2"


def test_malformed_content_gives_findings_not_errors() -> None:
    s = shared()
    ds = mado_manifest(s)
    library = ds.ContentSequence[0]
    ct_group = library.ContentSequence[4]
    del ct_group.ContentSequence[5]  # no Series Instance UID (112002): found from the evidence
    ct_group.ContentSequence[7].MeasuredValueSequence[0].NumericValue = "2.5"  # not a whole count
    ct_group.ContentSequence.append(text(("113609", "DCM", "Instance Number"), "99", ACQ))  # after the last entry
    library.ContentSequence[3].MeasuredValueSequence[0].NumericValue = "-1"  # no count
    manifest = read(ds)
    ct = manifest.series[0]
    assert ct.series_instance_uid == s.ct_series
    assert ct.instance_count is None
    assert [e.instance_number for e in ct.entries] == ["1", "2", "3"]
    wheres = {f.where: f.message for f in manifest.findings}
    assert "Series Instance UID" in wheres["1.1.5"] and s.ct_series in wheres["1.1.5"]
    assert "2.5" in wheres["1.1.5.8"]
    assert "belong to no instance" in wheres["1.1.5.12"]
    assert manifest.series_count is None
    assert "1.1.4" in wheres


def test_no_evidence_and_group_outside_it() -> None:
    s = shared()
    ds = mado_manifest(s)
    del ds.CurrentRequestedProcedureEvidenceSequence
    manifest = read(ds)
    assert [m.series_instance_uid for m in manifest.series] == [s.ct_series, s.kin_series]
    assert all(m.retrieve.empty and m.references == () for m in manifest.series)
    assert [f.where for f in manifest.findings] == ["CurrentRequestedProcedureEvidenceSequence", "1.1.5", "1.1.6"]


def test_key_image_note_carries_no_manifest() -> None:
    ds = mado_manifest(shared())
    ds.ConceptNameCodeSequence = DicomSequence([code("113000", "DCM", "Of Interest")])
    ds.ContentSequence = DicomSequence(list(ds.ContentSequence)[1:])
    ds.ContentSequence.insert(0, text(("113012", "DCM", "Key Object Description"), "Lesion"))
    content = extract_key_objects(ds, "kin.dcm").content
    assert content.key_object_class is KeyObjectClass.KEY_IMAGES
    assert content.manifest is None


# -- the IHE sample ---------------------------------------------------------------------------------------------


def test_ihe_sample_mado_kos_b() -> None:
    path = shared_path("dicom", "mado", "MADO_KOS_B.dcm")
    report = extract_key_objects(pydicom.dcmread(path), str(path))
    content = report.content
    assert content.key_object_class is KeyObjectClass.MANIFEST
    manifest = content.manifest
    assert manifest is not None
    assert manifest.mado is True
    assert manifest.sop_instance_uid == "1.2.250.1.59.40211.22756022.2.3.102.259.31"
    assert manifest.study_instance_uid == STUDY_B
    assert manifest.title is not None and manifest.title.code == "MADOTEMP001"
    assert manifest.display_uri == DISPLAY_URI_B  # private (000D,1101), creator IHE_MADO_PRIVATE
    assert manifest.modalities == ("CT",)
    assert [r.code for r in manifest.target_regions] == ["63337009"]
    assert manifest.series_count == 2
    ct, kin = manifest.series
    assert [ct.series_instance_uid, kin.series_instance_uid] == [CT_SERIES, KIN_SERIES]
    assert ct.retrieve.retrieve_location_uid == "1.3.6.1.4.1.19376.1.1.202.1"
    assert kin.retrieve.retrieve_location_uid == "1.3.6.1.4.1.19376.1.1.202.2"
    assert {ct.retrieve.wado_rs_base_url, kin.retrieve.wado_rs_base_url} == {"https://dicomserver.com/AET/rs/"}
    assert ct.retrieve.retrieve_ae_title is None and kin.retrieve.retrieve_ae_title is None
    assert (ct.modality, ct.date, ct.time, ct.description, ct.number) == (
        "CT", "20231018", "164758.337000", "Series B1", "1")
    assert ct.target_region is not None and (ct.target_region.system, ct.target_region.code) == (SCT, "63337009")
    assert ct.instance_count == 20
    assert len(ct.entries) == 20
    assert [e.instance_number for e in ct.entries] == [str(n) for n in range(1, 21)]
    assert [e.sop_instance_uid for e in ct.entries] == [
        f"1.2.250.1.59.40211.22756022.2.3.102.201.3{n}" for n in range(1, 21)]
    assert all(e.sop_class_uid == CT_IMAGE for e in ct.entries)
    assert [uid for _, uid in ct.references] == [e.sop_instance_uid for e in ct.entries]
    assert (kin.modality, kin.number, kin.instance_count) == ("KO", "2", 1)
    (entry,) = kin.entries
    assert entry.sop_instance_uid == KIN
    assert entry.sop_class_uid == KOS_CLASS
    assert entry.document_title == Code(DCM, "113000", "Of Interest")
    assert entry.description == "Significant DICOM Instances"
    findings = {(f.where, f.severity): f.message for f in manifest.findings}
    assert len(manifest.findings) == 4
    assert "TEXT" in findings[("1.1.4.8", Severity.INFO)] and "read as 20" in findings[("1.1.4.8", Severity.INFO)]
    assert "read as 1" in findings[("1.1.5.8", Severity.INFO)]
    assert "20 entries" in findings[("1.1.4", Severity.INFO)] and "siblings" in findings[("1.1.4", Severity.INFO)]
    assert "siblings" in findings[("1.1.5", Severity.INFO)]
    assert set(manifest.findings) <= set(report.findings)  # the manifest's findings are the report's too


# -- XDS-I.b manifests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "series", "ae_title", "location"), [
    (ELGA_US, ["1.3.12.2.1107.5.8.2.100180.20240522104729758945012"], "STIGLBAUER", "1.2.40.0.34.3.1.13157"),
    (ELGA_CR, ["1.3.12.2.1107.5.8.2.100041.2024082003211020554540005234.1",
               "1.3.12.2.1107.5.8.2.100041.2024082003211020554540005234.2"], "EBSTTEST",
     "1.2.40.0.34.3.9.103.12.4.1.2.2"),
])
def test_xds_manifests(name: str, series: list[str], ae_title: str, location: str) -> None:
    path = shared_path("dicom", "kos", name)
    report = extract_key_objects(pydicom.dcmread(path), str(path))
    assert report.content.key_object_class is KeyObjectClass.MANIFEST
    manifest = report.content.manifest
    assert manifest is not None
    assert manifest.mado is False
    assert manifest.title is not None and manifest.title.code == "113030"
    assert [s.series_instance_uid for s in manifest.series] == series
    assert {s.retrieve.retrieve_ae_title for s in manifest.series} == {ae_title}
    assert {s.retrieve.retrieve_location_uid for s in manifest.series} == {location}
    assert all(s.retrieve.wado_rs_base_url is None for s in manifest.series)
    assert sum(len(s.references) for s in manifest.series) == 2
    assert all(s.entries == () and s.modality is None and s.instance_count is None for s in manifest.series)
    assert (manifest.display_uri, manifest.modalities, manifest.series_count) == (None, (), None)
    assert manifest.findings == () and report.findings == ()


def test_router_kos_is_other_but_reads_as_a_reference_manifest() -> None:
    """GK17285 is titled "Of Interest" with "Automatic created": OTHER (sr-mapping.md §5.1), so no manifest on the
    Report; read as a manifest it is an XDS-I.b-style one."""
    path = shared_path("dicom", "kos", ELGA_MR)
    ds = pydicom.dcmread(path)
    content = extract_key_objects(ds, str(path)).content
    assert content.key_object_class is KeyObjectClass.OTHER
    assert content.manifest is None
    manifest = read(ds, str(path))
    assert manifest.mado is False
    (series,) = manifest.series
    assert series.series_instance_uid == "1.2.840.113674.1115.261.178.300.20240111.163748.100.1"
    assert series.retrieve.retrieve_ae_title == "NOELGA_QS_SP_RAD"
    assert series.retrieve.retrieve_location_uid == "1.2.40.0.10.1.6.1.1.1.382.2.103.5.4"
    assert manifest.findings == ()
