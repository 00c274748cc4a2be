"""The bridge's MADO KOS manifest of IHE Study B (mado.md §2, §6 and the producer checklist §7 items 1-12).

Every test reads the KOS back from its PS3.10 bytes, so it checks what a consumer would receive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from bridge.api import read_outcome
from bridge.manifest.kos import (
    KEY_OBJECT_SELECTION_STORAGE,
    MANIFEST_SERIES_NUMBER,
    build_kos,
    kos_bytes,
    reference_value_type,
    write_kos,
)
from bridge.model import InstanceHeader, ObjectKind
from bridge.model.manifest import ManifestPlan, RetrieveSite
from bridge.model.study import Issuer
from tests.conftest import shared_path
from tests.manifest_support import (
    CT_SERIES_UID,
    KIN_SERIES_UID,
    KIN_UID,
    SITE,
    STUDY_B_UID,
    study_b_files,
    study_case,
)

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
REFERENCE_TYPES = ("IMAGE", "COMPOSITE", "WAVEFORM")
PATIENT_ISSUER_OID = "1.3.6.1.4.1.19376.1.1.100.1"  # as in MADO_KOS_B.dcm
CT_ACCESSION = "8529258169397744"
KIN_ACCESSION = "9426932401715315"
# CID IHE-MADO1 "High-Level Anatomic Regions and Systems" (mado.md §2.3), all SCT
MADO_REGIONS = {"63337009", "38266002", "53120007", "61685007", "67734004", "774007", "113257007", "80891009",
                "76752008", "1141981001"}


# -- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan() -> ManifestPlan:
    made = study_case(study_b_files()).plan
    assert made is not None
    return made


@pytest.fixture(scope="module")
def issuer_plan() -> ManifestPlan:
    """Study B with the patient ID issuer of the worked example configured (mado.md §6)."""
    made = study_case(study_b_files(), SITE.model_copy(update={"patient_id_issuer_oid": PATIENT_ISSUER_OID})).plan
    assert made is not None
    return made


@pytest.fixture(scope="module")
def kos(plan: ManifestPlan) -> Dataset:
    return read_back(plan)


@pytest.fixture(scope="module")
def image_headers() -> dict[str, Dataset]:
    """The 21 Study B instances as written, by SOP Instance UID."""
    found = {}
    for path in study_b_files():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        found[ds.SOPInstanceUID] = ds
    assert len(found) == 21
    return found


# -- helpers -------------------------------------------------------------------------------------------------------


def read_back(plan: ManifestPlan) -> Dataset:
    return pydicom.dcmread(BytesIO(kos_bytes(plan)))


def concept(item: Dataset) -> tuple[str, str] | None:
    seq = item.get("ConceptNameCodeSequence")
    return (seq[0].CodeValue, seq[0].CodingSchemeDesignator) if seq else None


def code_value(item: Dataset) -> tuple[str, str]:
    value = item.ConceptCodeSequence[0]
    return value.CodeValue, value.CodingSchemeDesignator


def children(item: Dataset) -> list[Dataset]:
    return list(item.get("ContentSequence") or ())


def named(items: list[Dataset], code: str) -> list[Dataset]:
    return [i for i in items if concept(i) == (code, "DCM")]


def one(items: list[Dataset], code: str) -> Dataset:
    found = named(items, code)
    assert len(found) == 1, f"{code}: {len(found)} items"
    return found[0]


def walk(item: Dataset) -> Iterator[Dataset]:
    for child in children(item):
        yield child
        yield from walk(child)


def library(kos: Dataset) -> Dataset:
    return one(children(kos), "111028")


def groups(kos: Dataset) -> list[Dataset]:
    return named(children(library(kos)), "126200")


def group_of(kos: Dataset, series_uid: str) -> Dataset:
    found = [g for g in groups(kos) if one(children(g), "112002").UID == series_uid]
    assert len(found) == 1
    return found[0]


def entries(container: Dataset) -> list[Dataset]:
    return [i for i in children(container) if i.ValueType in REFERENCE_TYPES]


def ref(item: Dataset) -> tuple[str, str]:
    sop = item.ReferencedSOPSequence[0]
    return sop.ReferencedSOPClassUID, sop.ReferencedSOPInstanceUID


def evidence_series(kos: Dataset) -> list[Dataset]:
    (study,) = kos.CurrentRequestedProcedureEvidenceSequence
    return list(study.ReferencedSeriesSequence)


def evidence_refs(kos: Dataset) -> list[tuple[str, str]]:
    return [(r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID)
            for s in evidence_series(kos) for r in s.ReferencedSOPSequence]


def num(item: Dataset) -> tuple[str, str, str]:
    """(value, unit code, unit scheme) of a NUM item."""
    assert item.ValueType == "NUM"
    (measured,) = item.MeasuredValueSequence
    (unit,) = measured.MeasurementUnitsCodeSequence
    return str(measured.NumericValue), unit.CodeValue, unit.CodingSchemeDesignator


# -- §7 item 1: identity -------------------------------------------------------------------------------------------


def test_item1_kos_identity_template_and_title(plan: ManifestPlan, kos: Dataset) -> None:
    assert kos.SOPClassUID == KEY_OBJECT_SELECTION_STORAGE == "1.2.840.10008.5.1.4.1.1.88.59"
    assert kos.file_meta.MediaStorageSOPClassUID == KEY_OBJECT_SELECTION_STORAGE
    assert kos.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert kos.SpecificCharacterSet == "ISO_IR 192"
    assert kos.Modality == "KO"
    assert (kos.SOPInstanceUID, kos.file_meta.MediaStorageSOPInstanceUID) == (plan.sop_instance_uid,) * 2
    assert kos.SeriesInstanceUID == plan.series_instance_uid
    assert (kos.SeriesNumber, kos.InstanceNumber) == (MANIFEST_SERIES_NUMBER, 1)
    assert "ReferencedPerformedProcedureStepSequence" in kos and len(kos.ReferencedPerformedProcedureStepSequence) == 0
    (template,) = kos.ContentTemplateSequence
    assert (template.MappingResource, template.TemplateIdentifier) == ("DCMR", "2010")
    assert kos.ValueType == "CONTAINER"
    (title,) = kos.ConceptNameCodeSequence
    assert (title.CodeValue, title.CodingSchemeDesignator, title.CodeMeaning) == (
        "131560", "DCM", "Manifest with Description")
    assert "RelationshipType" not in kos


# -- §7 item 2: continuity of content --------------------------------------------------------------------------


def test_item2_every_container_is_separate(kos: Dataset) -> None:
    containers = [kos, *(i for i in walk(kos) if i.ValueType == "CONTAINER")]
    assert len(containers) == 4  # root, Image Library, two groups
    assert [c.get("ContinuityOfContent") for c in containers] == ["SEPARATE"] * 4


# -- §7 item 3: one Image Library, one group per evidence series -----------------------------------------------


def test_item3_one_image_library_and_one_group_per_evidence_series(kos: Dataset) -> None:
    assert len(named(children(kos), "111028")) == 1
    assert library(kos).RelationshipType == "CONTAINS"
    group_uids = [one(children(g), "112002").UID for g in groups(kos)]
    assert group_uids == [s.SeriesInstanceUID for s in evidence_series(kos)] == [CT_SERIES_UID, KIN_SERIES_UID]
    assert all(g.RelationshipType == "CONTAINS" for g in groups(kos))


# -- §7 item 4: the same references everywhere -----------------------------------------------------------------


def test_item4_evidence_flat_list_and_image_library_reference_the_same_instances(
        plan: ManifestPlan, kos: Dataset, image_headers: dict[str, Dataset]) -> None:
    evidence = evidence_refs(kos)
    flat = [ref(i) for i in entries(kos)]
    library_entries = [ref(e) for g in groups(kos) for e in entries(g)]
    expected = {(ds.SOPClassUID, uid) for uid, ds in image_headers.items()}
    assert len(evidence) == len(flat) == len(library_entries) == 21  # no duplicates
    assert set(evidence) == set(flat) == set(library_entries) == expected
    assert all(ds.StudyInstanceUID == STUDY_B_UID for ds in image_headers.values())
    (study,) = kos.CurrentRequestedProcedureEvidenceSequence
    assert study.StudyInstanceUID == kos.StudyInstanceUID == STUDY_B_UID
    assert plan.sop_instance_uid not in {uid for _, uid in evidence}
    assert plan.series_instance_uid not in {s.SeriesInstanceUID for s in evidence_series(kos)}
    assert all(i.RelationshipType == "CONTAINS" for i in entries(kos))


def test_item4_manifest_in_the_input_is_not_shared() -> None:
    """A received manifest (MADO_KOS_B.dcm) is not listed; its retrieve side is still taken over where unset."""
    made = study_case(study_b_files(with_manifest=True)).plan
    assert made is not None
    received = pydicom.dcmread(shared_path("dicom", "mado", "MADO_KOS_B.dcm"), stop_before_pixels=True)
    refs = {uid for _, uid in evidence_refs(read_back(made))}
    assert len(refs) == 21
    assert received.SOPInstanceUID not in refs


# -- §7 item 5: counts -----------------------------------------------------------------------------------------------


def test_item5_counts_are_num_with_ucum_units(kos: Dataset) -> None:
    study_count = one(children(library(kos)), "131565")
    assert study_count.RelationshipType == "HAS ACQ CONTEXT"
    assert num(study_count) == (str(len(evidence_series(kos))), "{series}", "UCUM") == ("2", "{series}", "UCUM")
    for group, series in zip(groups(kos), evidence_series(kos), strict=True):
        count = one(children(group), "131564")
        assert count.RelationshipType == "HAS ACQ CONTEXT"
        assert num(count) == (str(len(series.ReferencedSOPSequence)), "{instances}", "UCUM")
    assert [num(one(children(g), "131564"))[0] for g in groups(kos)] == ["20", "1"]


# -- §7 item 6: study-level modality and target region ---------------------------------------------------------


def test_item6_study_modalities_cover_the_groups_and_target_region_is_from_cid_ihe_mado1(kos: Dataset) -> None:
    study_modalities = {code_value(i) for i in named(children(library(kos)), "121139")}
    group_modalities = {code_value(one(children(g), "121139")) for g in groups(kos)}
    assert group_modalities == {("CT", "DCM"), ("KO", "DCM")}
    assert study_modalities >= group_modalities
    regions = [code_value(i) for i in named(children(library(kos)), "123014")]
    assert regions == [("774007", "SCT")]  # Head and neck, from Body Part Examined HEAD
    assert {code for code, _ in regions} <= MADO_REGIONS


# -- §7 item 7: group descriptors -------------------------------------------------------------------------------


def test_item7_ct_group_descriptors_have_the_value_types_of_table_b(kos: Dataset) -> None:
    items = children(group_of(kos, CT_SERIES_UID))
    descriptors = [i for i in items if i.ValueType not in REFERENCE_TYPES]
    assert all(i.RelationshipType == "HAS ACQ CONTEXT" for i in descriptors)
    assert [(concept(i)[0], i.ValueType) for i in descriptors] == [  # type: ignore[index]
        ("121139", "CODE"), ("131561", "DATE"), ("131562", "TIME"), ("131563", "TEXT"), ("113607", "TEXT"),
        ("112002", "UIDREF"), ("123014", "CODE"), ("131564", "NUM"),
    ]
    assert one(items, "131561").Date == "20220822"  # the images' Series Date, not the sample's 20231018
    assert one(items, "131562").Time.startswith("164758.337")
    assert one(items, "131563").TextValue == "Series B1"
    assert one(items, "113607").TextValue == "1"
    assert code_value(one(items, "123014")) == ("69536005", "SCT")  # Head, from Body Part Examined HEAD


def test_item7_kin_group_takes_its_descriptors_from_the_instance(
        kos: Dataset, image_headers: dict[str, Dataset]) -> None:
    items = children(group_of(kos, KIN_SERIES_UID))
    kin = image_headers[KIN_UID]
    assert one(items, "113607").TextValue == str(kin.SeriesNumber) == "59"  # not the sample's wrong "2"
    assert code_value(one(items, "121139")) == ("KO", "DCM")
    assert "SeriesDate" not in kin
    assert named(items, "131561") == named(items, "131562") == named(items, "123014") == []  # absent, not empty


def test_item7_series_and_instance_numbers_equal_the_dicom_strings(
        kos: Dataset, image_headers: dict[str, Dataset]) -> None:
    for group in groups(kos):
        for entry in entries(group):
            header = image_headers[ref(entry)[1]]
            assert one(children(entry), "113609").TextValue == str(header.InstanceNumber).strip()
            assert one(children(group), "113607").TextValue == str(header.SeriesNumber)
    # instances are ordered by Instance Number, not by UID (…201.310 sorts before …201.32 as text)
    ct_numbers = [one(children(e), "113609").TextValue for e in entries(group_of(kos, CT_SERIES_UID))]
    assert ct_numbers == [str(n) for n in range(1, 21)]


# -- §7 item 8: entry descriptors are children ------------------------------------------------------------------


def test_item8_instance_descriptors_are_children_of_their_entries(kos: Dataset) -> None:
    for group in groups(kos):
        assert named(children(group), "113609") == []  # no sibling descriptors (the sample's deviation)
        for entry in entries(group):
            assert entry.RelationshipType == "CONTAINS"
            assert "ConceptNameCodeSequence" not in entry
            descriptors = children(entry)
            assert descriptors
            assert all(d.RelationshipType == "HAS ACQ CONTEXT" for d in descriptors)
            assert one(descriptors, "113609").ValueType == "TEXT"
    assert [e.ValueType for e in entries(group_of(kos, CT_SERIES_UID))] == ["IMAGE"] * 20
    assert named([d for e in entries(group_of(kos, CT_SERIES_UID)) for d in children(e)], "121140") == []


def test_item8_multi_frame_entries_carry_number_of_frames(plan: ManifestPlan) -> None:
    ct, kin = plan.study.series
    framed = replace(ct.instances[0], number_of_frames=12)
    single = replace(ct.instances[1], number_of_frames=1)
    study = replace(plan.study, series=(replace(ct, instances=(framed, single, *ct.instances[2:])), kin))
    kos = read_back(replace(plan, study=study))
    by_uid = {ref(e)[1]: e for g in groups(kos) for e in entries(g)}
    frames = one(children(by_uid[framed.sop_instance_uid]), "121140")
    assert frames.RelationshipType == "HAS ACQ CONTEXT"
    assert num(frames) == ("12", "{frames}", "UCUM")
    assert named(children(by_uid[single.sop_instance_uid]), "121140") == []


# -- §7 item 9: referenced KOS ---------------------------------------------------------------------------------


def test_item9_key_image_note_entry_carries_its_title_and_description(kos: Dataset) -> None:
    (entry,) = entries(group_of(kos, KIN_SERIES_UID))
    assert entry.ValueType == "COMPOSITE"
    assert ref(entry) == (KEY_OBJECT_SELECTION_STORAGE, KIN_UID)
    descriptors = children(entry)
    assert one(descriptors, "121144").ValueType == "CODE"
    assert code_value(one(descriptors, "121144")) == ("113000", "DCM")  # Of Interest
    assert one(descriptors, "113012").TextValue == "Significant DICOM Instances"
    assert one(descriptors, "113609").TextValue == "1"
    assert {ref(e): e.ValueType for e in entries(kos)}[(KEY_OBJECT_SELECTION_STORAGE, KIN_UID)] == "COMPOSITE"


# -- §7 item 10: retrieve side ---------------------------------------------------------------------------------


def test_item10_every_series_has_retrieve_location_uid_and_base_retrieve_url(kos: Dataset) -> None:
    for series in evidence_series(kos):
        assert series.RetrieveLocationUID == "1.2.3.4.5.6"
        assert series.RetrieveURL == "https://pacs.example.org/dicomweb"
        assert "/studies" not in series.RetrieveURL
        assert series.RetrieveAETitle == "PACS"


def test_item10_retrieve_values_come_per_series_and_unknown_ones_are_left_out(plan: ManifestPlan) -> None:
    retrieve = {
        CT_SERIES_UID: RetrieveSite("https://ct.example.org/rs", None, "1.2.3.4.1"),
        KIN_SERIES_UID: RetrieveSite(None, "ARCHIVE", None),
    }
    kos = read_back(replace(plan, retrieve=retrieve))
    ct, kin = evidence_series(kos)
    assert (ct.RetrieveURL, ct.RetrieveLocationUID, "RetrieveAETitle" in ct) == (
        "https://ct.example.org/rs", "1.2.3.4.1", False)
    assert (kin.RetrieveAETitle, "RetrieveURL" in kin, "RetrieveLocationUID" in kin) == ("ARCHIVE", False, False)


# -- §7 item 11: header ----------------------------------------------------------------------------------------


def test_item11_patient_issuer_and_other_patient_ids(issuer_plan: ManifestPlan) -> None:
    kos = read_back(issuer_plan)
    assert kos.PatientID == "UV59569735"
    (qualifier,) = kos.IssuerOfPatientIDQualifiersSequence
    assert (qualifier.UniversalEntityID, qualifier.UniversalEntityIDType) == (PATIENT_ISSUER_OID, "ISO")
    (other,) = kos.OtherPatientIDsSequence
    assert (other.PatientID, other.TypeOfPatientID) == ("UV59569735", "TEXT")
    (other_qualifier,) = other.IssuerOfPatientIDQualifiersSequence
    assert (other_qualifier.UniversalEntityID, other_qualifier.UniversalEntityIDType) == (PATIENT_ISSUER_OID, "ISO")


def test_item11_without_an_issuer_oid_the_qualifiers_are_left_out_and_the_plan_says_so(
        plan: ManifestPlan, kos: Dataset) -> None:
    assert plan.patient_issuer_oid is None
    assert any(f.where == "IssuerOfPatientIDQualifiersSequence" for f in plan.findings)
    assert "IssuerOfPatientIDQualifiersSequence" not in kos and "OtherPatientIDsSequence" not in kos
    assert kos.PatientID == "UV59569735"


def test_item11_study_time_zone_and_creator(plan: ManifestPlan, kos: Dataset) -> None:
    assert (kos.StudyDate, kos.StudyTime) == ("20220822", "083117.658000")
    assert (str(kos.PatientName), kos.PatientBirthDate, kos.PatientSex) == ("DOE^John", "19770530", "M")
    assert kos.StudyDescription == "Study B"
    assert kos.TimezoneOffsetFromUTC == plan.timezone_offset == "+0200"  # the site zone (Europe/Paris) in August
    assert (kos.ContentDate, kos.ContentTime) == ("20220822", "164758.337000")  # plan.created: the newest stamp
    assert kos.Manufacturer == "dicom-bridge"
    assert kos.InstitutionName == "Example Hospital^^^^^^^^^1.2.3.4.5.99"  # HL7 v2 XON: name + organization OID
    assert kos.SoftwareVersions == plan.creator.software_version
    assert kos.StudyID == ""  # the images have none (Type 2)


# -- §7 item 12: accession rule ----------------------------------------------------------------------------------


def test_item12_two_accessions_go_to_referenced_requests_and_leave_accession_number_empty(kos: Dataset) -> None:
    assert kos.AccessionNumber == ""
    assert "IssuerOfAccessionNumberSequence" not in kos
    requests = list(kos.ReferencedRequestSequence)
    assert [r.AccessionNumber for r in requests] == [CT_ACCESSION, KIN_ACCESSION]
    for request in requests:
        assert request.StudyInstanceUID == STUDY_B_UID
        for keyword in ("ReferencedStudySequence", "RequestedProcedureDescription", "RequestedProcedureCodeSequence",
                        "RequestedProcedureID", "PlacerOrderNumberImagingServiceRequest",
                        "FillerOrderNumberImagingServiceRequest"):
            assert keyword in request, keyword  # DICOM Type 2: present, may be empty
    assert requests[0].RequestedProcedureDescription == "Contrôle qualité MN salle 1"  # UTF-8 (ISO_IR 192)


def test_item12_one_accession_goes_to_the_header_with_its_issuer(plan: ManifestPlan) -> None:
    issuer = Issuer(local_id="RIS", universal_id="1.3.6.1.4.1.19376.1.1.100.2", universal_id_type="ISO")
    placer = Issuer(universal_id="1.3.6.1.4.1.19376.1.1.100.3", universal_id_type="ISO")
    request = replace(plan.requests[0], issuer=issuer, placer_order_number="3712777189356881", placer_issuer=placer)
    kos = read_back(replace(plan, requests=(request,)))
    assert kos.AccessionNumber == CT_ACCESSION
    (header_issuer,) = kos.IssuerOfAccessionNumberSequence
    assert (header_issuer.LocalNamespaceEntityID, header_issuer.UniversalEntityID,
            header_issuer.UniversalEntityIDType) == ("RIS", "1.3.6.1.4.1.19376.1.1.100.2", "ISO")
    (item,) = kos.ReferencedRequestSequence
    assert item.IssuerOfAccessionNumberSequence[0].UniversalEntityID == "1.3.6.1.4.1.19376.1.1.100.2"
    assert item.PlacerOrderNumberImagingServiceRequest == "3712777189356881"
    assert item.OrderPlacerIdentifierSequence[0].UniversalEntityID == "1.3.6.1.4.1.19376.1.1.100.3"


# -- Display URI, determinism, revisions -------------------------------------------------------------------------


def test_display_uri_is_in_the_evidence_item_and_at_top_level(plan: ManifestPlan, kos: Dataset) -> None:
    expected = f"https://viewer.example.org/launch?studyUID={STUDY_B_UID}"
    assert plan.display_uri == expected
    (study,) = kos.CurrentRequestedProcedureEvidenceSequence
    assert study[0x0040E012].value == kos[0x0040E012].value == expected
    assert kos[0x0040E012].VR == "UR"
    without = read_back(replace(plan, display_uri=None))
    assert 0x0040E012 not in without and 0x0040E012 not in without.CurrentRequestedProcedureEvidenceSequence[0]


def test_the_same_study_gives_byte_identical_output(plan: ManifestPlan, tmp_path: Path) -> None:
    again = study_case(study_b_files()).plan
    assert again is not None
    first = kos_bytes(plan)
    assert first == kos_bytes(plan) == kos_bytes(again)
    written = write_kos(plan, tmp_path / "manifest.dcm")
    assert written == tmp_path / "manifest.dcm"
    assert written.read_bytes() == first
    assert first[128:132] == b"DICM"
    assert list(tmp_path.iterdir()) == [written]  # no partial file left behind


def test_a_changed_study_gives_a_new_sop_instance_uid_in_the_same_series(plan: ManifestPlan) -> None:
    files = tuple(p for p in study_b_files() if p.name != "I19.dcm")
    changed = study_case(files).plan
    assert changed is not None
    kos = read_back(changed)
    assert kos.SOPInstanceUID != plan.sop_instance_uid
    assert kos.SeriesInstanceUID == plan.series_instance_uid
    assert len(evidence_refs(kos)) == 20
    assert num(one(children(group_of(kos, CT_SERIES_UID)), "131564"))[0] == "19"


def test_build_kos_returns_a_file_dataset_with_meta(plan: ManifestPlan) -> None:
    ds = build_kos(plan)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPInstanceUID == plan.sop_instance_uid


# -- round trip against the IHE sample ---------------------------------------------------------------------------


def test_references_equal_those_of_the_ihe_sample(kos: Dataset) -> None:
    sample = pydicom.dcmread(shared_path("dicom", "mado", "MADO_KOS_B.dcm"), stop_before_pixels=True)

    def references(ds: Dataset) -> tuple[str, dict[str, tuple[int, frozenset[tuple[str, str]]]]]:
        (study,) = ds.CurrentRequestedProcedureEvidenceSequence
        return study.StudyInstanceUID, {
            s.SeriesInstanceUID: (len(s.ReferencedSOPSequence), frozenset(
                (r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID) for r in s.ReferencedSOPSequence))
            for s in study.ReferencedSeriesSequence
        }

    assert references(kos) == references(sample)
    assert kos.StudyInstanceUID == sample.StudyInstanceUID


def test_the_bridge_reads_its_own_manifest_without_findings(plan: ManifestPlan, tmp_path: Path) -> None:
    header = read_outcome(write_kos(plan, tmp_path / "manifest.dcm"))
    assert isinstance(header, InstanceHeader) and header.report is not None
    manifest = header.report.content.manifest
    assert manifest is not None and manifest.mado
    assert manifest.findings == ()
    assert manifest.display_uri == plan.display_uri
    assert manifest.series_count == 2
    assert [(s.series_instance_uid, s.instance_count, s.number) for s in manifest.series] == [
        (CT_SERIES_UID, 20, "1"), (KIN_SERIES_UID, 1, "59")]
    assert all(s.retrieve == plan.retrieve[s.series_instance_uid] for s in manifest.series)


# -- entry value types --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sop_class", "kind", "expected"), [
    (CT_IMAGE, ObjectKind.IMAGE, "IMAGE"),
    ("1.2.840.10008.5.1.4.1.1.2.1", ObjectKind.IMAGE, "IMAGE"),  # Enhanced CT
    ("1.2.840.10008.5.1.4.1.1.66.4", ObjectKind.IMAGE, "IMAGE"),  # Segmentation
    ("1.2.840.10008.5.1.4.1.1.88.59", ObjectKind.KEY_OBJECTS, "COMPOSITE"),
    ("1.2.840.10008.5.1.4.1.1.88.33", ObjectKind.SR_TEXT_REPORT, "COMPOSITE"),
    ("1.2.840.10008.5.1.4.1.1.11.1", ObjectKind.OTHER, "COMPOSITE"),  # Grayscale Softcopy Presentation State
    ("1.2.840.10008.5.1.4.1.1.104.1", ObjectKind.ENCAPSULATED_PDF, "COMPOSITE"),
    ("1.2.840.10008.5.1.4.1.1.481.2", ObjectKind.IMAGE, "COMPOSITE"),  # RT Dose: pixel data, but no image
    ("1.2.840.10008.5.1.4.1.1.9.1.1", ObjectKind.OTHER, "WAVEFORM"),  # 12-lead ECG
    ("1.2.840.10008.5.1.4.1.1.88.77", ObjectKind.SR_OTHER, "COMPOSITE"),  # Waveform Annotation SR
    ("1.2.3.4.99.1", ObjectKind.IMAGE, "IMAGE"),  # private class read as an image
    ("1.2.3.4.99.2", ObjectKind.OTHER, "COMPOSITE"),
])
def test_entry_value_type_by_sop_class(sop_class: str, kind: ObjectKind, expected: str) -> None:
    assert reference_value_type(sop_class, kind) == expected
