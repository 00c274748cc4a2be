"""The sample Key Object Selection Document (PS3.16 TID 2010), written with highdicom: the radiologist's key images.

Title (113000, DCM, "Of Interest"), a Key Object Description and three IMAGE references in two series: images 1 and 2
of series 1 (5 mm) and image 6 of series 2 (1 mm lung), the slices through the nodule. highdicom lists them in the
Current Requested Procedure Evidence Sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from bridge.samples import facts
from bridge.samples.ct import StudySpec
from bridge.samples.report import (
    RADIOLOGIST_NAME,
    REPORTING_MANUFACTURER,
    REPORTING_MODEL_NAME,
    REPORTING_SOFTWARE_VERSIONS,
    REPORTING_STATION_NAME,
    pin_clock_and_implementation,
    referenced_request,
)

KEY_IMAGES_SERIES_NUMBER = 101
KEY_IMAGES_SERIES_DESCRIPTION = "Key images"
KEY_IMAGES_INSTANCE_NUMBER = 1
CONTENT_DATE = facts.STUDY_DATE
CONTENT_TIME = "142000"  # selected while reporting, before the report was signed
DOCUMENT_TITLE = codes.DCM.OfInterest  # DCM 113000, CID 7010
KEY_OBJECT_DESCRIPTION = "Nodule in the left upper lobe, best seen on these slices"
# (series number, instance number) of the key images, in document order
KEY_IMAGES = ((1, 1), (1, 2), (2, 6))


def build_key_object_selection(study: StudySpec, images: Sequence[Dataset]) -> hd.ko.KeyObjectSelectionDocument:
    """Return the key image note of ``study``; ``images`` are the CT instances it selects, in order."""
    content = hd.ko.KeyObjectSelection(
        document_title=DOCUMENT_TITLE,
        referenced_objects=list(images),
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=RADIOLOGIST_NAME, organization_name=facts.INSTITUTION_NAME
            ),
        ),
        description=KEY_OBJECT_DESCRIPTION,
    )
    kos = hd.ko.KeyObjectSelectionDocument(
        evidence=list(images),
        content=content,
        series_instance_uid=study.uid("key-images-series"),
        series_number=KEY_IMAGES_SERIES_NUMBER,
        sop_instance_uid=study.uid("key-images-series", "key-images-1"),
        instance_number=KEY_IMAGES_INSTANCE_NUMBER,
        manufacturer=REPORTING_MANUFACTURER,
        manufacturer_model_name=REPORTING_MODEL_NAME,
        software_versions=REPORTING_SOFTWARE_VERSIONS,
        institution_name=facts.INSTITUTION_NAME,
        institutional_department_name=facts.INSTITUTIONAL_DEPARTMENT_NAME,
        requested_procedures=[referenced_request(study)],
        series_description=KEY_IMAGES_SERIES_DESCRIPTION,
        series_date=CONTENT_DATE,
        series_time=CONTENT_TIME,
        content_date=CONTENT_DATE,
        content_time=CONTENT_TIME,
        specific_character_set=facts.SPECIFIC_CHARACTER_SET,
    )
    # TID 2010 lists its IMAGE rows without a concept name, as most KOS in the field are written; highdicom adds
    # the generic (260753009, SCT, "Source") that PS3.3 C.17.3 allows. Drop it, so readers meet the common form.
    for item in kos.ContentSequence:
        if item.ValueType == "IMAGE":
            del item.ConceptNameCodeSequence
    # highdicom's KOS copies only the basic patient and study attributes; repeat the issuers, ages and codes too
    kos.copy_patient_and_study_information(images[0])
    pin_clock_and_implementation(kos, CONTENT_DATE, CONTENT_TIME)
    kos.TimezoneOffsetFromUTC = facts.TIMEZONE_OFFSET_FROM_UTC  # PS3.3 C.12.1.1.8
    kos.CodingSchemeIdentificationSequence = facts.coding_scheme_identification(facts.LOCAL_SCHEME)
    kos.StationName = REPORTING_STATION_NAME
    kos.InstitutionAddress = facts.INSTITUTION_ADDRESS
    return kos
