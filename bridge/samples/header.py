"""Header pieces shared by the sample objects that are written with pydicom alone (dose SR, encapsulated PDF)."""

from __future__ import annotations

from copy import deepcopy

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from bridge.samples import facts
from bridge.samples.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

# Patient (PS3.3 C.7.1.1), General Study (C.7.2.1) and Patient Study (C.7.2.2) attributes that every object
# of the sample study repeats from its CT images; the same set highdicom copies for its SR and KOS objects.
PATIENT_AND_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyDescription",
    "ProcedureCodeSequence",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
)


def new_instance(sop_class_uid: str, sop_instance_uid: str, *, creation_date: str, creation_time: str) -> Dataset:
    """Return a data set with File Meta Information and SOP Common attributes (PS3.3 C.12.1) filled in.

    Explicit VR Little Endian, the project's Implementation Class UID, UTF-8, the site's UTC offset and the
    Coding Scheme Identification of the hospital's procedure codes (the Procedure Code Sequence uses them).
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.SpecificCharacterSet = facts.SPECIFIC_CHARACTER_SET
    ds.SOPClassUID = UID(sop_class_uid)
    ds.SOPInstanceUID = UID(sop_instance_uid)
    ds.InstanceCreationDate = creation_date
    ds.InstanceCreationTime = creation_time
    ds.TimezoneOffsetFromUTC = facts.TIMEZONE_OFFSET_FROM_UTC  # PS3.3 C.12.1.1.8
    ds.CodingSchemeIdentificationSequence = facts.coding_scheme_identification(facts.LOCAL_SCHEME)
    return ds


def copy_patient_and_study(source: Dataset, target: Dataset) -> None:
    """Copy the patient and study attributes of ``source`` (a CT instance) into ``target``, deep-copying sequences."""
    for keyword in PATIENT_AND_STUDY_KEYWORDS:
        if keyword in source:
            setattr(target, keyword, deepcopy(source[keyword].value))
