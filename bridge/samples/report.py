"""The sample TID 2000 Basic Diagnostic Imaging Report, written as an Enhanced SR with highdicom.

highdicom stamps some values from the clock (Instance Creation Date/Time, Verification DateTime, the
Contribution DateTime of its own Contributing Equipment item) and its own File Meta Implementation
Class UID; ``build_report`` overwrites each of them with fixed values so the bytes never change.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.valuerep import DA, TM

from bridge.samples import facts
from bridge.samples.ct import StudySpec
from bridge.samples.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

# General Equipment of the reporting system, PS3.3 C.7.5.1
REPORTING_MANUFACTURER = "Example Reporting Systems"
REPORTING_MODEL_NAME = "Example Reporting Workstation"
REPORTING_SOFTWARE_VERSIONS = "4.2.1"
REPORTING_STATION_NAME = "RADWS01"

REPORT_SERIES_NUMBER = 99
REPORT_SERIES_DESCRIPTION = "Radiology report"
REPORT_INSTANCE_NUMBER = 1
CONTENT_DATE = facts.STUDY_DATE
CONTENT_TIME = "142500"
VERIFICATION_DATETIME = "20240315143000"
INSTANCE_CREATION_TIME = "143000"

RADIOLOGIST_NAME = "Lindqvist^Erik^^Dr."
RADIOLOGIST_STAFF_ID = "RAD-0042"
RADIOLOGIST_STAFF_MEANING = "Lindqvist, Erik"

# PS3.16 TID 2000 document title (CID 7000), section headings (CID 7001) and report elements (CID 7002),
# each as pydicom's code dictionary spells it (generated from PS3.16).
DOCUMENT_TITLE = codes.LN.DiagnosticImagingReport  # LN 18748-4
HEADING_HISTORY = codes.LN.History  # LN 11329-0
HEADING_PROCEDURE = codes.LN.CurrentProcedureDescriptions  # LN 55111-9
HEADING_FINDINGS = codes.LN.Findings  # LN 59776-5
HEADING_IMPRESSIONS = codes.LN.Impressions  # LN 19005-8
HEADING_RECOMMENDATIONS = codes.LN.Recommendations  # LN 18783-1
ELEMENT_HISTORY = codes.LN.History  # LN 11329-0 is in CID 7002 too
ELEMENT_PROCEDURE_DESCRIPTION = codes.DCM.ProcedureDescription  # DCM 121065
ELEMENT_FINDING = codes.DCM.Finding  # DCM 121071
ELEMENT_IMPRESSION = codes.DCM.Impression  # DCM 121073
ELEMENT_RECOMMENDATION = codes.DCM.Recommendation  # DCM 121075
# PS3.16 CID 5000 Languages (TID 1204); the meaning is the one PS3.16 lists for en-US
LANGUAGE_EN_US = hd.sr.CodedConcept(value="en-US", scheme_designator="RFC5646", meaning="English (US)")
CONTAINS = hd.sr.RelationshipTypeValues.CONTAINS
DCMR_MAPPING_RESOURCE_UID = "1.2.840.10008.8.1.1"  # PS3.16 8.2: the DICOM Content Mapping Resource

REPORT_TEXT: tuple[tuple[Code, Code, tuple[str, ...]], ...] = (
    (
        HEADING_HISTORY,
        ELEMENT_HISTORY,
        (
            "Persistent dry cough for six weeks and unintended weight loss of 5 kg. "
            "Former smoker, 30 pack-years. Rule out malignancy.",
        ),
    ),
    (
        HEADING_PROCEDURE,
        ELEMENT_PROCEDURE_DESCRIPTION,
        (
            "Contrast-enhanced CT of the chest, 60 s after intravenous injection of 80 ml iohexol 350 mgI/ml. "
            "Axial reconstructions at 5 mm (soft tissue kernel) and 1 mm (lung kernel).",
        ),
    ),
    (
        HEADING_FINDINGS,
        ELEMENT_FINDING,
        (
            "Solid pulmonary nodule of 9 mm with smooth margins in the apicoposterior segment of the left upper lobe "
            "(series 2, image 6).",
            "No mediastinal, hilar or axillary lymphadenopathy.",
            "No pleural or pericardial effusion. No consolidation.",
        ),
    ),
    (
        HEADING_IMPRESSIONS,
        ELEMENT_IMPRESSION,
        ("Indeterminate 9 mm solid nodule in the left upper lobe. No other thoracic abnormality.",),
    ),
    (
        HEADING_RECOMMENDATIONS,
        ELEMENT_RECOMMENDATION,
        (
            "Follow-up CT of the chest in 3 months, as the Fleischner Society 2017 guidelines advise for a "
            "solitary solid nodule larger than 8 mm; PET/CT or tissue sampling may be considered.",
        ),
    ),
)


def report_content() -> hd.sr.ContainerContentItem:
    """Return the TID 2000 content tree: title, language, observer context, then the five headings.

    TID 2000 is order-significant; rows as numbered in PS3.16 2026a: HAS CONCEPT MOD language (TID 1204,
    row 5), HAS OBS CONTEXT (TID 1001 with TID 1002, row 7), then CONTAINS headings from CID 7001 (row 8),
    each holding TEXT items named from CID 7002 (TID 2002, row 10). The optional rows 2-4 and 6 are absent.
    """
    root = hd.sr.ContainerContentItem(name=DOCUMENT_TITLE, template_id="2000", is_content_continuous=False)
    root.ContentTemplateSequence[0].MappingResourceUID = DCMR_MAPPING_RESOURCE_UID
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=RADIOLOGIST_NAME, organization_name=facts.INSTITUTION_NAME
        ),
    )
    children: list[hd.sr.ContentItem] = [
        *hd.sr.LanguageOfContentItemAndDescendants(language=LANGUAGE_EN_US),
        *observer,
    ]
    for heading, element, texts in REPORT_TEXT:
        section = hd.sr.ContainerContentItem(
            name=heading,
            is_content_continuous=False,
            relationship_type=CONTAINS,
        )
        section.ContentSequence = hd.sr.ContentSequence(
            [hd.sr.TextContentItem(name=element, value=text, relationship_type=CONTAINS) for text in texts]
        )
        children.append(section)
    root.ContentSequence = hd.sr.ContentSequence(children)
    return root


def build_report(study: StudySpec, evidence: Sequence[Dataset]) -> hd.sr.EnhancedSR:
    """Return the verified Enhanced SR report of ``study``; ``evidence`` are its CT instances, in order.

    All of them go into the Current Requested Procedure Evidence Sequence (PS3.3 Table C.17-2); the first
    supplies the patient and study attributes.
    """
    sr = hd.sr.EnhancedSR(
        evidence=evidence,
        content=report_content(),
        series_instance_uid=study.uid("report-series"),
        series_number=REPORT_SERIES_NUMBER,
        sop_instance_uid=study.uid("report-series", "report-1"),
        instance_number=REPORT_INSTANCE_NUMBER,
        manufacturer=REPORTING_MANUFACTURER,
        manufacturer_model_name=REPORTING_MODEL_NAME,
        software_versions=REPORTING_SOFTWARE_VERSIONS,
        is_complete=True,
        is_final=True,
        is_verified=True,
        institution_name=facts.INSTITUTION_NAME,
        institutional_department_name=facts.INSTITUTIONAL_DEPARTMENT_NAME,
        verifying_observer_name=RADIOLOGIST_NAME,
        verifying_organization=facts.INSTITUTION_NAME,
        performed_procedure_codes=[procedure_code()],
        requested_procedures=[referenced_request(study)],
        series_description=REPORT_SERIES_DESCRIPTION,
        series_date=CONTENT_DATE,
        series_time=CONTENT_TIME,
        content_date=CONTENT_DATE,
        content_time=CONTENT_TIME,
        specific_character_set=facts.SPECIFIC_CHARACTER_SET,
    )
    _pin_clock_and_implementation(sr)
    sr.TimezoneOffsetFromUTC = facts.TIMEZONE_OFFSET_FROM_UTC  # PS3.3 C.12.1.1.8
    # PS3.3 C.12.1.1.4; set directly: highdicom writes Coding Scheme UID only for registered schemes
    sr.CodingSchemeIdentificationSequence = facts.coding_scheme_identification(facts.LOCAL_SCHEME, facts.STAFF_SCHEME)
    sr.StationName = REPORTING_STATION_NAME
    sr.InstitutionAddress = facts.INSTITUTION_ADDRESS
    verifier = sr.VerifyingObserverSequence[0]
    verifier.VerifyingObserverIdentificationCodeSequence = [_staff_code()]
    # PS3.3 Table C.17-2 and C.17.2.5: the author is named in the header too; highdicom has no parameter for it
    sr.AuthorObserverSequence = [_author_observer()]
    return sr


def _pin_clock_and_implementation(sr: hd.sr.EnhancedSR) -> None:
    """Replace every value highdicom took from the clock or from itself with the fixed sample values."""
    pin_clock_and_implementation(sr, CONTENT_DATE, INSTANCE_CREATION_TIME)
    sr.VerifyingObserverSequence[0].VerificationDateTime = VERIFICATION_DATETIME


def pin_clock_and_implementation(ds: Dataset, date: str, time: str) -> None:
    """Give a highdicom object fixed Instance Creation Date/Time, Contribution DateTime and File Meta names.

    highdicom stamps the first two from the clock and names itself in the File Meta Information;
    ``date`` and ``time`` (DA, TM) replace the clock values, the project's implementation the library's.
    """
    ds.InstanceCreationDate = DA(date)
    ds.InstanceCreationTime = TM(time)
    for item in ds.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = date + time
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME


def procedure_code() -> hd.sr.CodedConcept:
    """Return the hospital's code for the performed procedure as a highdicom coded concept."""
    return hd.sr.CodedConcept(
        value=facts.PROCEDURE_CODE_VALUE,
        scheme_designator=facts.LOCAL_SCHEME,
        meaning=facts.PROCEDURE_CODE_MEANING,
    )


def _staff_code() -> Dataset:
    """Return the radiologist's staff identifier as a Code Sequence Macro item (PS3.3 Table 8.8-1)."""
    return facts.code_item(RADIOLOGIST_STAFF_ID, facts.STAFF_SCHEME, RADIOLOGIST_STAFF_MEANING)


def _author_observer() -> Dataset:
    """Return the Author Observer Sequence item for the reporting radiologist (Observer Type PSN)."""
    item = Dataset()
    item.ObserverType = "PSN"
    item.PersonName = RADIOLOGIST_NAME
    item.PersonIdentificationCodeSequence = [_staff_code()]
    item.InstitutionName = facts.INSTITUTION_NAME
    item.InstitutionCodeSequence = []  # Type 2 in the Identified Person or Device Macro; no coded identifier
    item.InstitutionalDepartmentName = facts.INSTITUTIONAL_DEPARTMENT_NAME
    return item


def referenced_request(study: StudySpec) -> Dataset:
    """Return the Referenced Request Sequence item (PS3.3 Table C.17-2) of the order the report answers."""
    item = Dataset()
    item.StudyInstanceUID = study.study_instance_uid
    item.ReferencedStudySequence = []
    item.AccessionNumber = study.accession_number
    item.IssuerOfAccessionNumberSequence = facts.issuer_of_accession_number()
    item.PlacerOrderNumberImagingServiceRequest = ""
    item.FillerOrderNumberImagingServiceRequest = ""
    item.RequestedProcedureID = study.requested_procedure_id
    item.RequestedProcedureDescription = facts.REQUESTED_PROCEDURE_DESCRIPTION
    item.RequestedProcedureCodeSequence = [facts.procedure_code_item()]
    return item
