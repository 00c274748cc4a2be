"""The fictional patient, hospital, order and dates that the sample CT study and its report share.

Everything here is invented; names and identifiers only look real. The patient name and the
institution address carry non-ASCII characters so that Specific Character Set ISO_IR 192 is exercised.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from bridge.samples.uids import sample_uid

# PS3.3 C.12.1.1.2: ISO_IR 192 is UTF-8; one value for the whole data set.
SPECIFIC_CHARACTER_SET = "ISO_IR 192"

# Patient module, PS3.3 C.7.1.1
PATIENT_NAME = "Wiśniewska^Anna"
PATIENT_ID = "PAT-0001"
ISSUER_OF_PATIENT_ID = "HOSPITAL-A"
PATIENT_ID_ISSUER_OID = sample_uid("issuer", "patient-id", ISSUER_OF_PATIENT_ID)
PATIENT_BIRTH_DATE = "19670412"
PATIENT_SEX = "F"
PATIENT_AGE = "056Y"  # PS3.3 C.7.2.2, age at the study date 2024-03-15
PATIENT_SIZE = "1.68"  # m
PATIENT_WEIGHT = "64"  # kg

# General Study module, PS3.3 C.7.2.1
STUDY_DATE = "20240315"
STUDY_TIME = "101530"
STUDY_DESCRIPTION = "CT Chest with contrast"
REFERRING_PHYSICIAN_NAME = "Novak^Peter^^Dr."
ACCESSION_ISSUER_LOCAL_ID = "HOSPITAL-A-RIS"
ACCESSION_ISSUER_OID = sample_uid("issuer", "accession-number", ACCESSION_ISSUER_LOCAL_ID)
REQUESTED_PROCEDURE_DESCRIPTION = "CT Chest with contrast"

# General Equipment module, PS3.3 C.7.5.1
INSTITUTION_NAME = "General Hospital Example"
INSTITUTION_ADDRESS = "ul. Przykładowa 1, 90-001 Łódź, Poland"
INSTITUTIONAL_DEPARTMENT_NAME = "Department of Radiology"

# The hospital's own procedure codes: a private scheme, so PS3.3 C.12.1.1.4 asks for a Coding
# Scheme Identification Sequence item that names it.
LOCAL_SCHEME = "99GHE"
LOCAL_SCHEME_UID = sample_uid("coding-scheme", LOCAL_SCHEME)
LOCAL_SCHEME_NAME = "General Hospital Example procedure codes"
PROCEDURE_CODE_VALUE = "CT-CHEST-IV"
PROCEDURE_CODE_MEANING = "CT Chest with contrast"
STAFF_SCHEME = "99GHESTAFF"
STAFF_SCHEME_UID = sample_uid("coding-scheme", STAFF_SCHEME)
STAFF_SCHEME_NAME = "General Hospital Example staff identifiers"

# The site's offset from UTC in March (CET), PS3.3 C.12.1.1.8
TIMEZONE_OFFSET_FROM_UTC = "+0100"


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    """Return one Code Sequence Macro item (PS3.3 Table 8.8-1) with the basic coded entry attributes."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def procedure_code_item() -> Dataset:
    """Return the local code of the requested and performed procedure (CT chest with IV contrast)."""
    return code_item(PROCEDURE_CODE_VALUE, LOCAL_SCHEME, PROCEDURE_CODE_MEANING)


def issuer_of_patient_id_qualifiers() -> list[Dataset]:
    """Return the Issuer of Patient ID Qualifiers Sequence items (PS3.3 C.7.1.1): the issuer's ISO OID."""
    item = Dataset()
    item.UniversalEntityID = PATIENT_ID_ISSUER_OID
    item.UniversalEntityIDType = "ISO"
    return [item]


def issuer_of_accession_number() -> list[Dataset]:
    """Return the Issuer of Accession Number Sequence items (PS3.3 Table 10-17, HL7 v2 HD)."""
    item = Dataset()
    item.LocalNamespaceEntityID = ACCESSION_ISSUER_LOCAL_ID
    item.UniversalEntityID = ACCESSION_ISSUER_OID
    item.UniversalEntityIDType = "ISO"
    return [item]


_PRIVATE_SCHEMES = {
    LOCAL_SCHEME: (LOCAL_SCHEME_UID, LOCAL_SCHEME_NAME),
    STAFF_SCHEME: (STAFF_SCHEME_UID, STAFF_SCHEME_NAME),
}


def coding_scheme_identification(*designators: str) -> list[Dataset]:
    """Return Coding Scheme Identification Sequence items (PS3.3 C.12.1.1.4) for the named private schemes.

    Raises:
        KeyError: a designator that is not one of the hospital's private schemes.
    """
    items = []
    for designator in designators:
        uid, name = _PRIVATE_SCHEMES[designator]
        item = Dataset()
        item.CodingSchemeDesignator = designator
        item.CodingSchemeUID = uid
        item.CodingSchemeName = name
        item.CodingSchemeResponsibleOrganization = INSTITUTION_NAME
        items.append(item)
    return items
