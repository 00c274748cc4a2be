"""Coded findings of a text report (TID 2000 CODE and NUM items) -> ObservationFindingEuImaging (sr-mapping.md §2.3).

Findings and measurements go to their section's ``entry[finding]`` and DiagnosticReport.result (dgr-1);
impressions and conclusions also give ``conclusionCode``; coded recommendations become proposed
ServiceRequests in ``recommendation.entry[suggestion]``.
"""

from __future__ import annotations

from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.identifier import Identifier
from fhir.resources.meta import Meta
from fhir.resources.observation import Observation
from fhir.resources.reference import Reference
from fhir.resources.servicerequest import ServiceRequest

from bridge.fhir import constants as c
from bridge.fhir.content import ContentContext, Placement
from bridge.fhir.datatypes import concept, reference
from bridge.fhir.ids import resource_id
from bridge.fhir.measurements import quantity_fields
from bridge.model import CodedObservation, EuSection

IDR_BY_SECTION = {
    EuSection.FINDINGS: c.EXT_IDR_FINDING,
    EuSection.IMPRESSION: c.EXT_IDR_IMPRESSION,
    EuSection.COMPARISON: c.EXT_IDR_FINDING,
    EuSection.HISTORY: c.EXT_IDR_PATIENT_HISTORY,
    EuSection.PROCEDURE: c.EXT_IDR_IMAGING_PROCEDURE,
}


def coded_finding_placement(ctx: ContentContext, issued: str) -> Placement:
    """Observations for the CODE/NUM items of ``ctx.report``, and ServiceRequests for coded recommendations."""
    placement = Placement()
    report = ctx.report
    for observation in report.content.observations:
        resource = _observation(ctx, observation, issued)
        ref = reference("Observation", resource.id or "")
        section = EuSection(observation.section)
        # Observations only belong where the guide's sections take them; others are kept under findings.
        target = section if section in IDR_BY_SECTION else EuSection.FINDINGS
        placement.resources.append(resource)
        placement.results.append(ref)
        placement.add_entry(target, ref)
        placement.idr.append((IDR_BY_SECTION[target], ref))
    for index, code in enumerate(report.content.recommendation_codes, start=1):
        request = ServiceRequest(
            id=resource_id("ServiceRequest", report.sop_instance_uid, "recommendation", str(index)),
            status="active",
            intent="proposal",
            code={"concept": concept(code, text=code.display)},
            subject=reference("Patient", ctx.patient_id),
        )
        ref = reference("ServiceRequest", request.id or "")
        placement.resources.append(request)
        placement.add_entry(EuSection.RECOMMENDATION, ref)
        placement.idr.append((c.EXT_IDR_RECOMMENDATION, ref))
    placement.conclusion_codes.extend(concept(code, text=code.display) for code in report.content.conclusion_codes)
    return placement


def _observation(ctx: ContentContext, item: CodedObservation, issued: str) -> Observation:
    report = ctx.report
    name = item.concept
    identifiers = [Identifier(system=c.URN_DICOM_UID, value=f"urn:oid:{item.observation_uid}",
                              type=concept(c.OBSERVATION_UID_TYPE))] if item.observation_uid else None
    site = item.finding_sites[0] if item.finding_sites else None
    value: dict[str, object] = {}
    if item.quantity is not None:
        value = quantity_fields(item.quantity)
    elif item.value is not None:
        value = {"valueCodeableConcept": concept(item.value, text=item.value.display)}
    return Observation(
        id=resource_id("Observation", report.sop_instance_uid, item.path, "finding"),
        meta=Meta(profile=[c.PROFILE_FINDING]),
        identifier=identifiers,
        basedOn=list(ctx.based_on) or None,
        status=ctx.observation_status,
        code=concept(name, text=name.display) if name is not None else CodeableConcept(text="Finding"),
        subject=reference("Patient", ctx.patient_id),
        issued=issued,
        bodySite=concept(site.site, text=site.site.display) if site is not None else None,
        method=concept(item.method, text=item.method.display) if item.method is not None else None,
        derivedFrom=_derived_from(ctx),
        **value,
    )


def _derived_from(ctx: ContentContext) -> list[Reference]:
    refs = [reference("ImagingStudy", ctx.imaging_study_id)]
    if ctx.sr_selection_id is not None:
        refs.append(reference("ImagingSelection", ctx.sr_selection_id))
    return refs


__all__ = ["coded_finding_placement"]
