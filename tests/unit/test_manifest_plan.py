"""plan_manifest(): the shared set, the retrieve side (configuration, per calling AE, received manifest),
determinism, and the endpoints built from it."""

from __future__ import annotations

from bridge.fhir.access import StudyEndpoints
from bridge.manifest.plan import plan_manifest
from bridge.settings import FhirSettings, ManifestSettings
from tests.manifest_support import (
    CT_SERIES_UID,
    KIN_SERIES_UID,
    KIN_UID,
    SITE,
    STUDY_B_UID,
    study_b_files,
    study_case,
)

MADO_KOS_B_UID = "1.2.250.1.59.40211.22756022.2.3.102.259.31"


def shared_uids(case) -> set[str]:  # type: ignore[no-untyped-def]
    assert case.plan is not None
    return {i.sop_instance_uid for s in case.plan.study.series for i in s.instances}


def test_the_shared_set_is_every_image_and_the_key_image_note_but_never_a_manifest() -> None:
    without = study_case(study_b_files())
    with_manifest = study_case(study_b_files(with_manifest=True))
    assert len(shared_uids(without)) == 21 and KIN_UID in shared_uids(without)
    assert shared_uids(with_manifest) == shared_uids(without)  # MADO_KOS_B.dcm is received but not shared
    assert MADO_KOS_B_UID in {i.sop_instance_uid for s in with_manifest.study.series for i in s.instances}
    assert with_manifest.plan is not None and without.plan is not None
    assert with_manifest.plan.sop_instance_uid == without.plan.sop_instance_uid


def test_uids_are_stable_for_the_same_study_and_new_for_a_changed_one() -> None:
    files = study_b_files()
    first, again, fewer = study_case(files), study_case(files), study_case(files[1:])
    assert first.plan is not None and again.plan is not None and fewer.plan is not None
    assert first.plan.sop_instance_uid == again.plan.sop_instance_uid
    assert fewer.plan.sop_instance_uid != first.plan.sop_instance_uid
    assert fewer.plan.series_instance_uid == first.plan.series_instance_uid
    assert first.plan.sop_instance_uid.startswith("2.25.")


def test_configured_retrieve_side_and_the_requests_of_both_accessions() -> None:
    plan = study_case(study_b_files()).plan
    assert plan is not None
    assert {s.wado_rs_base_url for s in plan.retrieve.values()} == {"https://pacs.example.org/dicomweb"}
    assert {s.retrieve_location_uid for s in plan.retrieve.values()} == {"1.2.3.4.5.6"}
    assert plan.display_uri == f"https://viewer.example.org/launch?studyUID={STUDY_B_UID}"
    assert [r.accession_number for r in plan.requests] == ["8529258169397744", "9426932401715315"]
    assert plan.accession_number is None  # two accessions: (0008,0050) stays empty
    assert plan.timezone_offset == "+0200"  # Europe/Paris in August, the images state none


def test_a_received_manifest_fills_what_the_configuration_leaves_unset() -> None:
    settings = ManifestSettings(retrieve={"retrieve_ae_title": "LOCAL"})
    plan = study_case(study_b_files(with_manifest=True), settings).plan
    assert plan is not None
    ct, kin = plan.retrieve[CT_SERIES_UID], plan.retrieve[KIN_SERIES_UID]
    assert (ct.wado_rs_base_url, ct.retrieve_location_uid, ct.retrieve_ae_title) == (
        "https://dicomserver.com/AET/rs/", "1.3.6.1.4.1.19376.1.1.202.1", "LOCAL")
    assert kin.retrieve_location_uid == "1.3.6.1.4.1.19376.1.1.202.2"
    endpoints = StudyEndpoints(plan)
    assert endpoints.by_series[CT_SERIES_UID].address == "https://dicomserver.com/AET/rs/"
    assert endpoints.by_series[CT_SERIES_UID].id != endpoints.by_series[KIN_SERIES_UID].id


def test_retrieve_settings_per_calling_ae_override_the_defaults() -> None:
    case = study_case(study_b_files())
    settings = SITE.model_copy(update={"retrieve_by_source_ae": {
        "CT_ROOM1": ManifestSettings.model_fields["retrieve"].annotation(  # type: ignore[misc]
            wado_rs_base_url="https://other.example.org/rs")}})
    ct_uids = {i.sop_instance_uid for s in case.study.series if s.series_instance_uid == CT_SERIES_UID
               for i in s.instances}
    plan = plan_manifest(case.study, case.headers, case.reports, settings, FhirSettings(),
                         {uid: "CT_ROOM1" for uid in ct_uids})
    assert plan is not None
    assert plan.retrieve[CT_SERIES_UID].wado_rs_base_url == "https://other.example.org/rs"
    assert plan.retrieve[CT_SERIES_UID].retrieve_location_uid == "1.2.3.4.5.6"  # unset in the override: default
    assert plan.retrieve[KIN_SERIES_UID].wado_rs_base_url == "https://pacs.example.org/dicomweb"


def test_missing_retrieve_location_and_issuer_are_reported_not_invented() -> None:
    plan = study_case(study_b_files(), ManifestSettings()).plan
    assert plan is not None
    assert all(s.retrieve_location_uid is None for s in plan.retrieve.values())
    wheres = sorted(f.where for f in plan.findings)
    assert wheres == sorted([CT_SERIES_UID, KIN_SERIES_UID, "IssuerOfPatientIDQualifiersSequence"])
    assert StudyEndpoints(plan).by_series == {}
