"""Canonical URLs, code systems and codes the validator checks against (HL7 Europe Imaging Report R5 1.0.0-ballot).

Values are quoted from /work/shared/docs/eu-imaging-report-ig.md; the section is given for each group.
"""

from __future__ import annotations

from typing import Final

# Profiles (§1.1; canonical pattern http://hl7.eu/fhir/imaging-r5/StructureDefinition/<id>)
IG_SD: Final = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/"
PROFILE_BUNDLE_DOCUMENT: Final = IG_SD + "BundleReportEuImaging"
PROFILE_BUNDLE_MINIMAL: Final = IG_SD + "BundleReportMinimalMetadataEuImaging"
PROFILE_COMPOSITION: Final = IG_SD + "CompositionEuImaging"
PROFILE_REPORT: Final = IG_SD + "DiagnosticReportEuImaging"
PROFILE_REPORT_MINIMAL: Final = IG_SD + "DiagnosticReportEuImagingMinimalMetadata"
PROFILE_IMAGING_STUDY: Final = IG_SD + "ImagingStudyEuImaging"
PROFILE_IMAGING_SELECTION: Final = IG_SD + "ImagingSelectionEuImaging"
PROFILE_SR_SELECTION: Final = IG_SD + "SrInstanceImagingSelectionEuImaging"
PROFILE_ORDER: Final = IG_SD + "ServiceRequestOrderEuImaging"
PROFILE_RADIATION_DOSE: Final = IG_SD + "ObservationRadiationDoseEuImaging"
PROFILE_DOCREF_REPORT: Final = IG_SD + "DocumentReferenceImagingReport"

# Extensions (§2.3, §2.4, §2.17, §2.21)
EXT_ANATOMICAL_REGION: Final = IG_SD + "AnatomicalRegionExtension"
EXT_INSTANCE_DESCRIPTION: Final = IG_SD + "ImagingStudyEuImagingInstanceDescription"
EXT_IDR_PREFIX: Final = IG_SD + "HL7IDR"  # HL7IDRComparisonStudy, HL7IDRPatientHistory, ... (§2.4)
EXT_EVENT_BASED_ON: Final = "http://hl7.org/fhir/StructureDefinition/event-basedOn"
EXT_NOTE: Final = "http://hl7.org/fhir/StructureDefinition/note"
EXT_UNCERTAIN_PERIOD: Final = "http://hl7.org/fhir/StructureDefinition/uncertainPeriod"
EXT_DATA_ABSENT_REASON: Final = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# Code systems
LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0074: Final = "http://terminology.hl7.org/CodeSystem/v2-0074"
V3_PARTICIPATION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
EEHRXF_PRIORITY_CATEGORY: Final = (
    "http://hl7.eu/fhir/eu-health-data-api/CodeSystem/eehrxf-document-priority-category-cs"
)
MISSING_DICOM_TERMINOLOGY: Final = (
    "http://hl7.eu/fhir/imaging-r5/CodeSystem/codesystem-missing-dicom-terminology"
)
DATA_ABSENT_REASON_CS: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
URN_DICOM_UID: Final = "urn:dicom:uid"
URN_OID_PREFIX: Final = "urn:oid:"

# Report category codings, mandatory on Composition and DiagnosticReport (§2.3, §2.4)
CATEGORY_IMAGING_REPORT: Final = (LOINC, "85430-7")
CATEGORY_MEDICAL_IMAGING: Final = (EEHRXF_PRIORITY_CATEGORY, "Medical-Imaging")

# http://hl7.org/fhir/ValueSet/diagnostic-service-sections = all of v2-0074 (§2.3, required binding)
DIAGNOSTIC_SERVICE_SECTIONS: Final = frozenset({
    "AU", "BG", "BLB", "CG", "CH", "CP", "CT", "CTH", "CUS", "EC", "EN", "GE", "HM", "ICU", "IMM", "LAB", "MB",
    "MCB", "MYC", "NMR", "NMS", "NRS", "OSL", "OT", "OTH", "OUS", "PAR", "PAT", "PF", "PHR", "PHY", "PT", "RAD",
    "RC", "RT", "RUS", "RX", "SP", "SR", "TX", "URN", "VR", "VUS", "XRC",
})

# Composition section codes, system http://loinc.org (§2.3 table)
SECTION_IMAGING_STUDY: Final = "18726-0"
SECTION_ORDER: Final = "55115-0"
SECTION_HISTORY: Final = "11329-0"
SECTION_PROCEDURE: Final = "55111-9"
MANDATORY_SECTIONS: Final = {
    SECTION_IMAGING_STUDY: "imagingstudy",
    SECTION_ORDER: "order",
    SECTION_HISTORY: "history",
    SECTION_PROCEDURE: "procedure",
}
OPTIONAL_SECTIONS: Final = {
    "18834-2": "comparison",
    "59776-5": "findings",
    "19005-8": "impression",
    "18783-1": "recommendation",
    "73568-8": "communication",
    "LP173421-1": "report",
}

# Identifier types (§2.13)
TYPE_STUDY_INSTANCE_UID: Final = (DCM, "110180")
TYPE_ACCESSION_ACSN: Final = (V2_0203, "ACSN")
TYPE_SOP_INSTANCE_UID: Final = (MISSING_DICOM_TERMINOLOGY, "00080018")

# ImagingStudy.series.performer function slices (§2.5): code -> resource types allowed as actor
SERIES_PERFORMER_ACTORS: Final = {
    "PRF": frozenset({"PractitionerRole", "Device", "Organization"}),
    "CST": frozenset({"Organization"}),
    "DEV": frozenset({"Device"}),
    "LOC": frozenset({"Organization"}),
}

# im-anatomical-region-valueset, required in AnatomicalRegionExtension (§5)
ANATOMICAL_REGIONS: Final = frozenset({
    "63337009", "38266002", "53120007", "61685007", "67734004",
    "774007", "113257007", "80891009", "76752008", "737561001",
})

ORDER_CATEGORY_IMAGING: Final = (SNOMED, "363679005")  # ServiceRequestOrderEuImaging.category[imaging] (§2.8)
RADIATION_DOSE_CODE: Final = (LOINC, "73569-6")  # ObservationRadiationDoseEuImaging.code (§2.11)

# http://hl7.org/fhir/ValueSet/data-absent-reason (required binding of the data-absent-reason extension)
DATA_ABSENT_REASONS: Final = frozenset({
    "unknown", "asked-unknown", "temp-unknown", "not-asked", "asked-declined", "masked", "not-applicable",
    "unsupported", "as-text", "error", "not-a-number", "negative-infinity", "positive-infinity",
    "not-performed", "not-permitted",
})
