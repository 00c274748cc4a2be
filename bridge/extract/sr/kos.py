"""Key Object Selection documents (TID 2010) -> Report with key images, manifest or rejection (sr-mapping.md §5).

The class of a KOS (key image note, manifest, rejection note, other purpose) comes from its title (CID 7010) and its
layout: a MADO-style Image Library (111028 with 126200 groups) makes a manifest whatever the title; a router-made
"Of Interest" KOS whose description matches an "automatic" pattern is not a radiologist's selection and becomes
OTHER. Whatever the class, the referenced instances are grouped per study and series into ``key_images``: the
consumer decides what to do with them (key images for the report, manifest inventory, instances to remove).
A manifest also carries what it says (retrieve side, descriptors) as a ManifestDescription (bridge.extract.sr.mado).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from pydicom.dataset import Dataset

from bridge.extract.sr.general import DCM, base_report, evidence_references
from bridge.extract.sr.mado import image_libraries, is_mado_title, read_manifest
from bridge.extract.sr.tree import ContentItem, WalkResult, walk
from bridge.model import (
    Code,
    EuSection,
    Finding,
    ImageReference,
    KeyImageSelection,
    KeyObjectClass,
    Report,
    Severity,
    StructuredContent,
)

KEY_OBJECT_DESCRIPTION = Code(DCM, "113012")
IMAGE_LIBRARY = Code(DCM, "111028")
IMAGE_LIBRARY_GROUP = Code(DCM, "126200")
SERIES_INSTANCE_UID = Code(DCM, "112002")

# CID 7010 Key Object Selection Document Titles, by what the bridge does with them (sr-mapping.md §5.1)
KEY_IMAGE_TITLES = frozenset({"113000", "113002", "113003", "113005", "113006", "113007", "113008", "113013", "113020"})
MANIFEST_TITLES = frozenset({"113030", "113031", "113032", "113033", "113034", "113035"})
REJECTION_TITLES = frozenset({"113001", "113037", "113038", "113039"})
# MADO "Manifest with Description" (131560 DCM, MADOTEMP001 99IHE, ddd001): bridge.extract.sr.mado.is_mado_title

DEFAULT_AUTOMATIC_PATTERNS = ("automatic created",)
_REFERENCE_TYPES = frozenset({"IMAGE", "COMPOSITE", "WAVEFORM"})


def extract_key_objects(
    ds: Dataset, source: str, automatic_patterns: Sequence[str] = DEFAULT_AUTOMATIC_PATTERNS
) -> Report:
    """The Report of a KOS: its class, the referenced instances per study and series, and the evidence.

    ``automatic_patterns`` are regular expressions (case-insensitive, searched in the Key Object Description):
    a key image note whose description matches one is classed OTHER (sr-mapping.md §5.1, the ELGA sample).
    """
    tree = walk(ds, source)
    report = base_report(ds, source, "key-objects", tree)
    evidence = evidence_references(ds)
    description = _description(tree.root)
    kos_class = classify_key_objects(tree.root, description, automatic_patterns)
    findings: list[Finding] = []
    selections = _selections(tree, report, evidence, description, findings)
    manifest = read_manifest(ds, tree, source) if kos_class is KeyObjectClass.MANIFEST else None
    if manifest is not None:
        findings.extend(manifest.findings)
    content = StructuredContent(key_object_class=kos_class, key_images=selections, evidence=evidence,
                                manifest=manifest)
    return replace(report, content=content, findings=(*report.findings, *findings))


def classify_key_objects(
    root: ContentItem, description: str | None, automatic_patterns: Sequence[str] = DEFAULT_AUTOMATIC_PATTERNS
) -> KeyObjectClass:
    """Key image note, manifest, rejection or other, from the title and the layout (sr-mapping.md §5.1)."""
    title = root.concept
    code = title.code if title is not None else None
    is_dcm = title is not None and title.system == DCM
    if is_dcm and code in REJECTION_TITLES:
        return KeyObjectClass.REJECTION  # IOCM: never reinterpreted, removing the instances is a safety matter
    if _has_image_library(root) or is_mado_title(title) or (is_dcm and code in MANIFEST_TITLES):
        return KeyObjectClass.MANIFEST
    if is_dcm and code in KEY_IMAGE_TITLES:
        key_images = True
    elif title is None or not is_dcm:
        # untitled or privately titled: IMAGE items directly under the root with a description mean a key image note
        key_images = description is not None and any(c.value_type in _REFERENCE_TYPES for c in root.children)
    else:
        key_images = False  # another CID 7010 purpose: teaching, research, quality issue, exports...
    if not key_images:
        return KeyObjectClass.OTHER
    if description and any(re.search(p, description, re.IGNORECASE) for p in automatic_patterns):
        return KeyObjectClass.OTHER
    return KeyObjectClass.KEY_IMAGES


def _has_image_library(root: ContentItem) -> bool:
    """A TID 1600-style Image Library (111028) holding Image Library Groups (126200): the MADO layout."""
    return bool(image_libraries(root))


def _description(root: ContentItem) -> str | None:
    """The root's Key Object Description (113012) text."""
    texts = [c.text for c in root.children_named(KEY_OBJECT_DESCRIPTION) if c.value_type == "TEXT" and c.text]
    return "\n".join(texts) if texts else None


def _selections(
    tree: WalkResult,
    report: Report,
    evidence: tuple[ImageReference, ...],
    description: str | None,
    findings: list[Finding],
) -> tuple[KeyImageSelection, ...]:
    """Every referenced instance once (frames merged), grouped per study+series in order of first reference."""
    by_uid = {ref.sop_instance_uid: ref for ref in evidence}
    library_series = _library_series(tree.root)
    groups: dict[tuple[str, str], dict[str, ImageReference]] = {}
    for item in tree.iter():
        if item.value_type not in _REFERENCE_TYPES:
            continue
        for ref in item.references:
            known = by_uid.get(ref.sop_instance_uid)
            series = known.series_instance_uid if known else None
            study = known.study_instance_uid if known else None
            if not series:
                series = library_series.get(item.path.rsplit(".", 1)[0])
            if known is None:
                where = "its Image Library group" if series else "no series"
                findings.append(Finding(report.source, item.path, (
                    f"{item.value_type} item references {ref.sop_instance_uid}, which is not in the Current Requested "
                    f"Procedure Evidence Sequence; taken as of this KOS's study with {where}"), Severity.WARNING))
            study = study or report.study_instance_uid
            series = series or ""
            instances = groups.setdefault((study, series), {})
            resolved = replace(
                ref,
                sop_class_uid=ref.sop_class_uid or (known.sop_class_uid if known else ""),
                series_instance_uid=series or None,
                study_instance_uid=study,
            )
            previous = instances.get(ref.sop_instance_uid)
            if previous is not None:
                resolved = replace(
                    previous,
                    frames=tuple(dict.fromkeys((*previous.frames, *ref.frames))),
                    segments=tuple(dict.fromkeys((*previous.segments, *ref.segments))),
                )
            instances[ref.sop_instance_uid] = resolved
    return tuple(
        KeyImageSelection(
            study_instance_uid=study,
            series_instance_uid=series,
            instances=tuple(instances.values()),
            title=report.title,
            description=description,
            section=EuSection.FINDINGS.value,
        )
        for (study, series), instances in groups.items()
    )


def _library_series(root: ContentItem) -> dict[str, str]:
    """Path of each Image Library Group -> its Series Instance UID (112002), for references not in the evidence."""
    found: dict[str, str] = {}
    for library in root.children_named(IMAGE_LIBRARY):
        for group in library.children_named(IMAGE_LIBRARY_GROUP):
            uid = next((c.text for c in group.children_named(SERIES_INSTANCE_UID) if c.text), None)
            if uid:
                found[group.path] = uid
    return found
