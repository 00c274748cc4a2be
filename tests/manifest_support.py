"""Study B of the IHE MADO sample, read as the pipeline reads it, and the manifest plan the bridge makes of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.api import read_outcome
from bridge.extract.plan import rejected_instances, without_rejected
from bridge.extract.study import extract_study
from bridge.manifest.plan import plan_manifest
from bridge.model import InstanceHeader, Report, Study
from bridge.model.manifest import ManifestPlan
from bridge.settings import FhirSettings, ManifestSettings
from tests.conftest import shared_path

STUDY_B_UID = "1.2.250.1.59.40211.22756022.2.1.102"
CT_SERIES_UID = "1.2.250.1.59.40211.22756022.2.2.102.201"
KIN_SERIES_UID = "1.2.250.1.59.40211.22756022.2.2.102.202"
KIN_UID = "1.2.250.1.59.40211.22756022.2.3.102.202.31"

# The site configuration of mado.md §6 (worked example)
SITE = ManifestSettings(
    institution_name="Example Hospital",
    institution_oid="1.2.3.4.5.99",
    retrieve={"wado_rs_base_url": "https://pacs.example.org/dicomweb", "retrieve_location_uid": "1.2.3.4.5.6",
              "retrieve_ae_title": "PACS", "viewer_url_template": "https://viewer.example.org/launch?studyUID={study_uid}"},
)


@dataclass(frozen=True)
class StudyCase:
    files: tuple[Path, ...]
    headers: tuple[InstanceHeader, ...]
    reports: tuple[Report, ...]
    study: Study
    plan: ManifestPlan | None


def study_b_files(with_manifest: bool = False) -> tuple[Path, ...]:
    """Study B's 21 instances (20 CT + the key image note), optionally with MADO_KOS_B.dcm; skips without ../shared."""
    folder = shared_path("dicom", "mado", "Study_B")
    files = sorted(folder.rglob("*.dcm"))
    if with_manifest:
        files.append(shared_path("dicom", "mado", "MADO_KOS_B.dcm"))
    return tuple(files)


def study_case(files: tuple[Path, ...], settings: ManifestSettings = SITE,
               fhir: FhirSettings | None = None) -> StudyCase:
    headers = []
    for path in files:
        outcome = read_outcome(path)
        assert isinstance(outcome, InstanceHeader), f"{path}: {outcome}"
        headers.append(outcome)
    reports = tuple(h.report for h in sorted(headers, key=lambda h: h.instance.sop_instance_uid) if h.report)
    study = without_rejected(extract_study(headers), rejected_instances(reports))
    plan = plan_manifest(study, headers, reports, settings, fhir or FhirSettings(site_timezone="Europe/Paris"))
    return StudyCase(tuple(files), tuple(headers), reports, study, plan)
