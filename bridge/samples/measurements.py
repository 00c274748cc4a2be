"""The sample TID 1500 Imaging Measurement Report: a lung CAD's nodule measurements, a Comprehensive 3D SR by highdicom.

One planar ROI group (TID 1410): a circle on series 2 image 6 (the slice the TID 2000 report cites), tracking
identifier and UID, finding type Nodule at the left lung, the long-axis diameter and volume of the nodule and one
qualitative evaluation, all attributed to the CAD algorithm (TID 4019) and a device observer (TID 1004).
The document is device-generated: COMPLETE, UNVERIFIED, FINAL.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from bridge.samples import facts
from bridge.samples.ct import StudySpec
from bridge.samples.report import (
    DCMR_MAPPING_RESOURCE_UID,
    LANGUAGE_EN_US,
    pin_clock_and_implementation,
    procedure_code,
    referenced_request,
)
from bridge.samples.uids import sample_uid

MEASUREMENTS_SERIES_NUMBER = 100
MEASUREMENTS_SERIES_DESCRIPTION = "Lung nodule CAD"
MEASUREMENTS_INSTANCE_NUMBER = 1
CONTENT_DATE = facts.STUDY_DATE
CONTENT_TIME = "102400"  # the CAD ran on the 1 mm lung series right after the scan

# The CAD software: General Equipment of the SR, TID 1004 device observer and TID 4019 algorithm
CAD_MANUFACTURER = "Example AI Systems"
CAD_MODEL_NAME = "Example Lung CAD"
CAD_SOFTWARE_VERSIONS = "2.1.0"
CAD_DEVICE_NAME = "LUNGCAD01"
CAD_DEVICE_UID = sample_uid("samples", "device", CAD_MODEL_NAME, CAD_DEVICE_NAME)
ALGORITHM_NAME = "Example Lung Nodule Detection"
ALGORITHM_VERSION = "2.1.0"

# The measured image: series 2 ("Axial 1mm lung"), instance 6
ROI_SERIES_NUMBER = 2
ROI_INSTANCE_NUMBER = 6
# CIRCLE: centre then a point on the circle, (column, row) image coordinates (PS3.3 C.18.6.1.1); the centre lies in
# the phantom's left lung (patient left is image right for head-first supine axial slices), radius 0.25 pixel.
ROI_GRAPHIC_DATA = ((11.0, 6.0), (11.25, 6.0))

TRACKING_IDENTIFIER = "Nodule 1"
FINDING_TYPE = codes.SCT.Nodule  # SCT 27925004
FINDING_CATEGORY = codes.SCT.MorphologicallyAbnormalStructure  # SCT 49755003
FINDING_SITE = codes.SCT.Lung  # SCT 39607008 "Lung structure"
LATERALITY = codes.SCT.Left  # SCT 7771000
PROCEDURE_REPORTED = codes.SCT.ComputedTomography  # SCT 77477000, CID 100
LONG_AXIS = codes.SCT.LongAxis  # SCT 103339001
VOLUME = codes.SCT.Volume  # SCT 118565006
LONG_AXIS_MM = 9.0
VOLUME_MM3 = 318.0
MILLIMETER = codes.UCUM.Millimeter
CUBIC_MILLIMETER = codes.UCUM.CubicMillimeter
MARGINS = codes.DCM.Margins  # DCM 111037
CIRCUMSCRIBED_MARGIN = hd.sr.CodedConcept(
    value="129738007", scheme_designator="SCT", meaning="Lesion with circumscribed margin"
)


def measurement_content(study: StudySpec, image: Dataset) -> hd.sr.MeasurementReport:
    """Return the TID 1500 content tree with one planar ROI measurement group on ``image``."""
    algorithm = hd.sr.AlgorithmIdentification(name=ALGORITHM_NAME, version=ALGORITHM_VERSION)
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.CIRCLE,
        graphic_data=np.array(ROI_GRAPHIC_DATA),
        source_image=hd.sr.SourceImageForRegion(
            referenced_sop_class_uid=image.SOPClassUID,
            referenced_sop_instance_uid=image.SOPInstanceUID,
        ),
    )
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=study.uid("measurements-series", "nodule-1"),
            identifier=TRACKING_IDENTIFIER,
        ),
        referenced_region=region,
        finding_type=FINDING_TYPE,
        finding_category=FINDING_CATEGORY,
        algorithm_id=algorithm,
        finding_sites=[hd.sr.FindingSite(anatomic_location=FINDING_SITE, laterality=LATERALITY)],
        measurements=[
            hd.sr.Measurement(name=LONG_AXIS, value=LONG_AXIS_MM, unit=MILLIMETER, algorithm_id=algorithm),
            hd.sr.Measurement(name=VOLUME, value=VOLUME_MM3, unit=CUBIC_MILLIMETER, algorithm_id=algorithm),
        ],
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=MARGINS, value=CIRCUMSCRIBED_MARGIN)],
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=CAD_DEVICE_UID,
            name=CAD_DEVICE_NAME,
            manufacturer_name=CAD_MANUFACTURER,
            model_name=CAD_MODEL_NAME,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=PROCEDURE_REPORTED,
        imaging_measurements=[group],
        language_of_content_item_and_descendants=hd.sr.LanguageOfContentItemAndDescendants(language=LANGUAGE_EN_US),
    )
    report[0].ContentTemplateSequence[0].MappingResourceUID = DCMR_MAPPING_RESOURCE_UID
    return report


def build_measurement_report(study: StudySpec, image: Dataset) -> hd.sr.Comprehensive3DSR:
    """Return the CAD's Comprehensive 3D SR for ``study``; ``image`` is the CT instance the ROI is drawn on."""
    sr = hd.sr.Comprehensive3DSR(
        evidence=[image],
        content=measurement_content(study, image),
        series_instance_uid=study.uid("measurements-series"),
        series_number=MEASUREMENTS_SERIES_NUMBER,
        sop_instance_uid=study.uid("measurements-series", "measurements-1"),
        instance_number=MEASUREMENTS_INSTANCE_NUMBER,
        manufacturer=CAD_MANUFACTURER,
        manufacturer_model_name=CAD_MODEL_NAME,
        software_versions=CAD_SOFTWARE_VERSIONS,
        is_complete=True,
        is_final=True,
        is_verified=False,
        institution_name=facts.INSTITUTION_NAME,
        institutional_department_name=facts.INSTITUTIONAL_DEPARTMENT_NAME,
        performed_procedure_codes=[procedure_code()],
        requested_procedures=[referenced_request(study)],
        series_description=MEASUREMENTS_SERIES_DESCRIPTION,
        series_date=CONTENT_DATE,
        series_time=CONTENT_TIME,
        content_date=CONTENT_DATE,
        content_time=CONTENT_TIME,
        specific_character_set=facts.SPECIFIC_CHARACTER_SET,
    )
    pin_clock_and_implementation(sr, CONTENT_DATE, CONTENT_TIME)
    sr.TimezoneOffsetFromUTC = facts.TIMEZONE_OFFSET_FROM_UTC  # PS3.3 C.12.1.1.8
    sr.CodingSchemeIdentificationSequence = facts.coding_scheme_identification(facts.LOCAL_SCHEME)
    sr.InstitutionAddress = facts.INSTITUTION_ADDRESS
    return sr
