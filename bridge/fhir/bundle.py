"""BundleReportEuImaging: the report document Bundle (guide §2.1, checklist §10 items 1-3)."""

from __future__ import annotations

from collections.abc import Sequence

from fhir.resources.bundle import Bundle, BundleEntry
from fhir.resources.identifier import Identifier
from fhir.resources.meta import Meta
from fhir.resources.resource import Resource

from bridge.fhir import constants as c
from bridge.fhir.ids import resource_id
from bridge.settings import FhirSettings


def full_url(resource: Resource, settings: FhirSettings) -> str:
    """``<base_url>/<Type>/<id>``: relative references inside the bundle resolve against it."""
    return f"{settings.base_url}/{resource.get_resource_type()}/{resource.id}"


def build_document_bundle(
    identifier: Identifier,
    timestamp: str,
    resources: Sequence[Resource],
    settings: FhirSettings,
) -> Bundle:
    """A document Bundle of ``resources`` (Composition first), each resource once, in the given order."""
    unique: dict[str, Resource] = {}
    for resource in resources:
        unique.setdefault(full_url(resource, settings), resource)
    assert identifier.value is not None
    return Bundle(
        id=resource_id("Bundle", identifier.system or "", identifier.value),
        meta=Meta(profile=[c.PROFILE_BUNDLE_REPORT]),
        identifier=identifier,
        type="document",
        timestamp=timestamp,
        entry=[BundleEntry(fullUrl=url, resource=resource) for url, resource in unique.items()],
    )
