"""ImagingStudyEuImaging from a Study (guide §2.5, checklist §10 item 9)."""

from __future__ import annotations

from fhir.resources.codeablereference import CodeableReference
from fhir.resources.coding import Coding
from fhir.resources.extension import Extension
from fhir.resources.imagingstudy import (
    ImagingStudy,
    ImagingStudySeries,
    ImagingStudySeriesInstance,
    ImagingStudySeriesPerformer,
)
from fhir.resources.meta import Meta

from bridge.fhir import constants as c
from bridge.fhir.access import StudyEndpoints
from bridge.fhir.datatypes import (
    concept,
    dicom_uid_identifier,
    fhir_datetime,
    order_reference,
    reference,
)
from bridge.fhir.ids import resource_id
from bridge.fhir.participants import equipment_key, has_device
from bridge.model import Code, Instance, Series, Study
from bridge.settings import FhirSettings


def imaging_study_id(study_instance_uid: str) -> str:
    return resource_id("ImagingStudy", study_instance_uid)


def build_imaging_study(
    study: Study,
    patient_id: str,
    settings: FhirSettings,
    referrer_id: str | None = None,
    endpoints: StudyEndpoints | None = None,
) -> ImagingStudy:
    """ImagingStudyEuImaging with every series and instance received; ``patient_id`` is the Patient's id.

    ``endpoints``: where the study and each series can be retrieved or viewed (from the manifest plan).
    """
    endpoints = endpoints or StudyEndpoints(None)
    started, started_ext = fhir_datetime(study.started, settings) if study.started else (None, None)
    regions = [Extension(url=c.EXT_ANATOMICAL_REGION, valueCodeableConcept=concept(r)) for r in study.anatomic_regions]
    return ImagingStudy(
        id=imaging_study_id(study.study_instance_uid),
        meta=Meta(profile=[c.PROFILE_IMAGING_STUDY]),
        extension=regions or None,
        identifier=[dicom_uid_identifier(study.study_instance_uid, c.DCM_STUDY_INSTANCE_UID_TYPE)],
        status="available",
        modality=[concept(Code(c.DCM, m)) for m in study.modalities],
        subject=reference("Patient", patient_id),
        started=started,
        started__ext=started_ext,
        basedOn=[order_reference(study.order, settings)] if study.order else None,
        referrer=reference("Practitioner", referrer_id) if referrer_id else None,
        endpoint=endpoints.study_references(),
        numberOfSeries=len(study.series),
        numberOfInstances=study.number_of_instances,
        description=study.study_description,
        series=[_series(s, settings, endpoints) for s in study.series],
    )


def _series(series: Series, settings: FhirSettings, endpoints: StudyEndpoints) -> ImagingStudySeries:
    started, started_ext = fhir_datetime(series.started, settings) if series.started else (None, None)
    return ImagingStudySeries(
        uid=series.series_instance_uid,
        number=series.series_number,
        modality=concept(Code(c.DCM, series.modality)),
        description=series.series_description,
        numberOfInstances=len(series.instances),
        bodySite=CodeableReference(concept=concept(series.body_site, text=series.body_part_examined))
        if series.body_site
        else None,
        laterality=concept(series.laterality) if series.laterality else None,
        endpoint=endpoints.series_references(series.series_instance_uid),
        started=started,
        started__ext=started_ext,
        performer=_performers(series) or None,
        instance=[_instance(i) for i in series.instances],
    )


def _performers(series: Series) -> list[ImagingStudySeriesPerformer]:
    """Series performer slices the data supports: device (DEV) and the institution (LOC)."""
    performers = []
    equipment = series.equipment
    if has_device(equipment):
        performers.append(
            ImagingStudySeriesPerformer(
                function=concept(c.PERFORMER_DEVICE),
                actor=reference("Device", resource_id("Device", *equipment_key(equipment))),
            )
        )
    if equipment.institution_name:
        performers.append(
            ImagingStudySeriesPerformer(
                function=concept(c.PERFORMER_LOCATION),
                actor=reference("Organization", resource_id("Organization", equipment.institution_name)),
            )
        )
    return performers


def _instance(instance: Instance) -> ImagingStudySeriesInstance:
    extensions = []
    if instance.title:
        extensions.append(Extension(url=c.EXT_INSTANCE_DESCRIPTION, valueString=instance.title))
    if instance.number_of_frames is not None and instance.number_of_frames > 1:
        extensions.append(Extension(url=c.EXT_NUMBER_OF_FRAMES, valueInteger=instance.number_of_frames))
    return ImagingStudySeriesInstance(
        uid=instance.sop_instance_uid,
        sopClass=Coding(system=c.URN_RFC3986, code=f"urn:oid:{instance.sop_class_uid}"),
        number=instance.instance_number,
        title=instance.title,
        extension=extensions or None,
    )


