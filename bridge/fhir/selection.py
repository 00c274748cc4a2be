"""ImagingSelections of report objects: the SR/KOS instance itself, and the key images a KOS selects (guide §2.6;
sr-mapping.md §5.2).

``sr_instance_selection`` references a DICOM SR, KOS or RDSR object (SrInstanceImagingSelectionEuImaging: one
instance, no subset or regions). ``key_image_placement`` turns the key images of a key image note (or of a text
report's Key Images heading) into ImagingSelectionKeyImageEuImaging, one per study+series, placed in the findings
(or impression) section and the IDR extension; they are not Observations, so never in DiagnosticReport.result.
"""

from __future__ import annotations

from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.coding import Coding
from fhir.resources.extension import Extension
from fhir.resources.imagingselection import ImagingSelection, ImagingSelectionInstance
from fhir.resources.meta import Meta
from fhir.resources.reference import Reference

from bridge.fhir import constants as c
from bridge.fhir.content import ContentContext, Placement
from bridge.fhir.datatypes import concept, dicom_uid_identifier, instant, reference
from bridge.fhir.ids import resource_id
from bridge.model import Code, EuSection, ImageReference, KeyImageSelection, KeyObjectClass, Report

PROFILE_SR_INSTANCE_SELECTION = c.IG + "SrInstanceImagingSelectionEuImaging"
PROFILE_KEY_IMAGE_SELECTION = c.IG + "ImagingSelectionKeyImageEuImaging"
MISSING_DICOM_TERMINOLOGY = "http://hl7.eu/fhir/imaging-r5/CodeSystem/codesystem-missing-dicom-terminology"
SOP_INSTANCE_UID_TYPE = Code(MISSING_DICOM_TERMINOLOGY, "00080018", "SOP Instance UID")
# The guide's title/description aliases are swapped (guide §2.6): the core artifact extensions are used as named.
EXT_ARTIFACT_TITLE = "http://hl7.org/fhir/StructureDefinition/artifact-title"
EXT_ARTIFACT_DESCRIPTION = "http://hl7.org/fhir/StructureDefinition/artifact-description"
# Codes whose displays differ from DICOM Code Meanings (sr-mapping.md §0.1): the meaning goes to text only
_NO_DISPLAY_SYSTEMS = frozenset({c.LOINC, c.SNOMED})


def sr_selection_id(sop_instance_uid: str) -> str:
    """Id of the SrInstanceImagingSelection of the SR/KOS/RDSR object ``sop_instance_uid``."""
    return resource_id("ImagingSelection", sop_instance_uid, "sr-instance")


def sr_instance_selection(report: Report, patient_id: str, imaging_study_id: str) -> ImagingSelection:
    """SrInstanceImagingSelectionEuImaging of the object ``report`` was read from (no subset, no regions)."""
    return ImagingSelection(
        id=sr_selection_id(report.sop_instance_uid),
        meta=Meta(profile=[PROFILE_SR_INSTANCE_SELECTION]),
        identifier=[dicom_uid_identifier(report.sop_instance_uid, SOP_INSTANCE_UID_TYPE)],
        status="available",
        subject=reference("Patient", patient_id),
        code=_title_concept(report.title, report.title_meaning),
        derivedFrom=[reference("ImagingStudy", imaging_study_id)],
        studyUid=report.study_instance_uid,
        seriesUid=report.series_instance_uid,
        instance=[ImagingSelectionInstance(uid=report.sop_instance_uid, sopClass=_sop_class(report.sop_class_uid))],
    )


def key_image_placement(ctx: ContentContext, force: bool = False) -> Placement:
    """ImagingSelectionKeyImageEuImaging per key image selection of ``ctx.report``.

    Only a key image note (class KEY_IMAGES) yields selections, unless ``force`` (key images of a text report).
    """
    placement = Placement()
    content = ctx.report.content
    if not force and content.key_object_class is not KeyObjectClass.KEY_IMAGES:
        return placement
    for selection in content.key_images:
        resource = _key_image_selection(ctx, selection)
        ref = reference("ImagingSelection", resource.id or "")
        section = _section(selection)
        placement.resources.append(resource)
        placement.add_entry(section, ref)
        placement.idr.append((c.EXT_IDR_IMPRESSION if section is EuSection.IMPRESSION else c.EXT_IDR_FINDING, ref))
        placement.add_narrative(section, _narrative_line(ctx, selection))
    return placement


def key_image_selection_id(sop_instance_uid: str, selection: KeyImageSelection) -> str:
    """Id of the key-image selection of one series in the KOS (or SR) ``sop_instance_uid``."""
    series = selection.series_instance_uid or f"study:{selection.study_instance_uid}"
    key = (sop_instance_uid, series)
    if selection.section != EuSection.FINDINGS.value:
        key = (*key, selection.section)  # the same series may be selected under another heading too
    return resource_id("ImagingSelection", *key)


def _key_image_selection(ctx: ContentContext, selection: KeyImageSelection) -> ImagingSelection:
    report = ctx.report
    title = _title_meaning(selection, report)
    extensions = [Extension(url=EXT_ARTIFACT_TITLE, valueString=title)]
    if selection.description:
        extensions.append(Extension(url=EXT_ARTIFACT_DESCRIPTION, valueMarkdown=selection.description))
    return ImagingSelection(
        id=key_image_selection_id(report.sop_instance_uid, selection),
        meta=Meta(profile=[PROFILE_KEY_IMAGE_SELECTION]),
        extension=extensions,
        identifier=[dicom_uid_identifier(report.sop_instance_uid)],
        status="available",
        subject=reference("Patient", ctx.patient_id),
        issued=instant(report.content_datetime, ctx.settings) if report.content_datetime else None,
        basedOn=list(ctx.based_on) or None,
        code=_title_concept(selection.title or report.title, title),
        derivedFrom=[_study_reference(ctx, selection.study_instance_uid)],
        studyUid=selection.study_instance_uid,
        seriesUid=selection.series_instance_uid or None,
        instance=[_instance(ref) for ref in selection.instances] or None,
    )


def _study_reference(ctx: ContentContext, study_uid: str) -> Reference:
    """The ImagingStudy in the bundle, or a logical reference by Study Instance UID for another study."""
    if study_uid == ctx.study.study_instance_uid:
        return reference("ImagingStudy", ctx.imaging_study_id)
    return Reference(type="ImagingStudy", identifier=dicom_uid_identifier(study_uid, c.DCM_STUDY_INSTANCE_UID_TYPE))


def _instance(ref: ImageReference) -> ImagingSelectionInstance:
    return ImagingSelectionInstance(
        uid=ref.sop_instance_uid,
        sopClass=_sop_class(ref.sop_class_uid) if ref.sop_class_uid else None,
        subset=[str(frame) for frame in ref.frames] or None,
    )


def _sop_class(sop_class_uid: str) -> Coding:
    return Coding(system=c.URN_RFC3986, code=f"urn:oid:{sop_class_uid}")


def _title_concept(title: Code | None, meaning: str) -> CodeableConcept:
    """The document title as CodeableConcept (DICOM meaning as text), or text only when there is no code."""
    if title is None:
        return concept(text=meaning)
    shown = Code(title.system, title.code) if title.system in _NO_DISPLAY_SYSTEMS else title
    return concept(shown, text=title.display or meaning)


def _title_meaning(selection: KeyImageSelection, report: Report) -> str:
    if selection.title is not None and selection.title.display:
        return selection.title.display
    return report.title_meaning


def _section(selection: KeyImageSelection) -> EuSection:
    try:
        return EuSection(selection.section)
    except ValueError:
        return EuSection.FINDINGS


def _narrative_line(ctx: ContentContext, selection: KeyImageSelection) -> str:
    """"Key images (Of Interest): 2 images of series 3: <description>"."""
    count = len(selection.instances)
    images = f"{count} image{'' if count == 1 else 's'}"
    series = _series_label(ctx, selection)
    line = f"Key images ({_title_meaning(selection, ctx.report)}): {images} of {series}"
    return f"{line}: {selection.description}" if selection.description else line


def _series_label(ctx: ContentContext, selection: KeyImageSelection) -> str:
    if not selection.series_instance_uid:
        return f"study {selection.study_instance_uid}"
    if selection.study_instance_uid == ctx.study.study_instance_uid:
        for series in ctx.study.series:
            if series.series_instance_uid == selection.series_instance_uid and series.series_number is not None:
                return f"series {series.series_number}"
    return f"series {selection.series_instance_uid}"
