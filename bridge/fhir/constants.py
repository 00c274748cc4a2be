"""Canonical URLs, code systems and fixed codes of the HL7 Europe Imaging Report R5 guide (1.0.0-ballot)."""

from __future__ import annotations

from bridge.model import Code

IG = "http://hl7.eu/fhir/imaging-r5/StructureDefinition/"
PROFILE_BUNDLE_REPORT = IG + "BundleReportEuImaging"
PROFILE_COMPOSITION = IG + "CompositionEuImaging"
PROFILE_DIAGNOSTIC_REPORT = IG + "DiagnosticReportEuImaging"
PROFILE_IMAGING_STUDY = IG + "ImagingStudyEuImaging"
PROFILE_FINDING = IG + "ObservationFindingEuImaging"
PROFILE_DEVICE = IG + "DeviceEuImaging"
PROFILE_PATIENT = "http://hl7.eu/fhir/base-r5/StructureDefinition/patient-eu-core"
PROFILE_PRACTITIONER = "http://hl7.eu/fhir/base-r5/StructureDefinition/practitioner-eu-core"
PROFILE_PRACTITIONER_ROLE = "http://hl7.eu/fhir/base-r5/StructureDefinition/practitionerRole-eu-core"
PROFILE_ORGANIZATION = "http://hl7.eu/fhir/base-r5/StructureDefinition/organization-eu-core"

EXT_ANATOMICAL_REGION = IG + "AnatomicalRegionExtension"
EXT_INSTANCE_DESCRIPTION = IG + "ImagingStudyEuImagingInstanceDescription"
EXT_NUMBER_OF_FRAMES = IG + "NumberOfFrames"
EXT_UNCERTAIN_PERIOD = "http://hl7.org/fhir/StructureDefinition/uncertainPeriod"
EXT_DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
EXT_NOTE = "http://hl7.org/fhir/StructureDefinition/note"
EXT_ANNOTATION_TYPE = "http://hl7.org/fhir/StructureDefinition/annotationType"
EXT_EVENT_BASED_ON = "http://hl7.org/fhir/StructureDefinition/event-basedOn"
# DiagnosticReport IDR-style extensions (guide §2.4): where the report points at its content
EXT_IDR_FINDING = IG + "HL7IDRFinding"
EXT_IDR_IMPRESSION = IG + "HL7IDRImpression"
EXT_IDR_PATIENT_HISTORY = IG + "HL7IDRPatientHistory"
EXT_IDR_IMAGING_PROCEDURE = IG + "HL7IDRImagingProcedure"
EXT_IDR_RECOMMENDATION = IG + "HL7IDRRecommendation"

DCM = "http://dicom.nema.org/resources/ontology/DCM"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LIST_EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ATTESTATION_MODE = "http://hl7.org/fhir/composition-attestation-mode"
PRIORITY_CATEGORY = "http://hl7.eu/fhir/eu-health-data-api/CodeSystem/eehrxf-document-priority-category-cs"
DEVICE_NAME_TYPE = "http://hl7.org/fhir/device-nametype"
URN_DICOM_UID = "urn:dicom:uid"
URN_RFC3986 = "urn:ietf:rfc:3986"

# Identifier types (guide §2.13)
DCM_STUDY_INSTANCE_UID_TYPE = Code(DCM, "110180", "Study Instance UID")
ACSN_TYPE = Code(V2_0203, "ACSN", "Accession ID")
DCM_ACCESSION_TYPE = Code(DCM, "121022", "Accession Number")
# HL7 DICOM SR to FHIR: Observation UID (0040,A171) identifiers
OBSERVATION_UID_TYPE = Code("http://hl7.org/fhir/uv/dicom-sr/CodeSystem/dicom-identifier-type", "observation-uid",
                            "Observation UID")
# Report categories (guide §2.3, §2.4)
LOINC_IMAGING_REPORT = Code(LOINC, "85430-7", "Diagnostic imaging report")
MEDICAL_IMAGING = Code(PRIORITY_CATEGORY, "Medical-Imaging", "Medical Imaging")
DEFAULT_REPORT_TYPE = Code(LOINC, "18748-4", "Diagnostic imaging study")
# Devices (guide §2.10)
SCT_IMAGING_DEVICE = Code(SNOMED, "314789007", "Diagnostic imaging equipment")
# Series performer functions (guide §2.5)
PERFORMER_DEVICE = Code(V3_PARTICIPATION, "DEV", "device")
PERFORMER_LOCATION = Code(V3_PARTICIPATION, "LOC", "location")
PERFORMER_CUSTODIAN = Code(V3_PARTICIPATION, "CST", "custodian")
# Section empty reasons
EMPTY_UNAVAILABLE = Code(LIST_EMPTY_REASON, "unavailable", "Unavailable")
EMPTY_NILKNOWN = Code(LIST_EMPTY_REASON, "nilknown", "Nil Known")

SECTION_TITLES = {
    "18726-0": ("Imaging Study", "Radiology studies (set)"),
    "55115-0": ("Order", "Requested imaging studies information Document"),
    "11329-0": ("History", "History general Narrative - Reported"),
    "55111-9": ("Procedure", "Current imaging procedure descriptions Document"),
    "18834-2": ("Comparison", "Radiology Comparison study (narrative)"),
    "59776-5": ("Findings", "Procedure findings Narrative"),
    "19005-8": ("Impression", "Radiology Imaging study [Impression] (narrative)"),
    "18783-1": ("Recommendation", "Radiology Study recommendation (narrative)"),
    "73568-8": ("Communication", "Communication of critical results"),
    "55107-7": ("Addendum", "Addendum Document"),
    "LP173421-1": ("Report", "Report"),
}
