"""A received manifest KOS -> ManifestDescription (mado.md §2): retrieve side, Display URI and Image Library.

Reads MADO "Manifest with Description" KOS in all three code generations (final DCM, IHE trial-implementation
99IHE, CP-2595 letter-ballot placeholders) and XDS-I.b "Manifest" KOS (references only). It tolerates what the
IHE sample ``MADO_KOS_B.dcm`` does (mado.md §2.4): instance descriptors as siblings before their IMAGE/COMPOSITE
item instead of its children, the instance count as TEXT, the Display URI in the TI private element. It never
raises for malformed content: what it cannot read it records as a finding with the item's path and goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from bridge.extract.sr.general import DCM
from bridge.extract.sr.tree import ContentItem, WalkResult
from bridge.extract.values import PRIVATE_SCHEME_BASE, text
from bridge.model import Code, Finding, Severity
from bridge.model.manifest import ManifestDescription, ManifestEntry, ManifestSeries, RetrieveSite

IHE = PRIVATE_SCHEME_BASE + "99IHE"  # how bridge.extract.values.code() maps the 99IHE coding scheme


@dataclass(frozen=True, slots=True)
class MadoConcept:
    """A concept of the MADO manifest in its three code generations (mado.md §2.1).

    ``final`` is the DCM code (what producers emit); ``trial`` the IHE MADO trial-implementation code in 99IHE
    (``MADO_KOS_B.dcm``); ``ballot`` the CP-2595 letter-ballot placeholder, matched in any coding scheme.
    Concepts whose code never changed have only ``final``.
    """

    final: str
    trial: str | None = None
    ballot: str | None = None
    meaning: str = ""

    @property
    def code(self) -> Code:
        return Code(DCM, self.final, self.meaning or None)

    def matches(self, concept: Code | None) -> bool:
        if concept is None:
            return False
        if concept.system == DCM and concept.code == self.final:
            return True
        if self.trial is not None and concept.system == IHE and concept.code == self.trial:
            return True
        return self.ballot is not None and concept.code == self.ballot


# -- the generations table: the one place the three code generations are listed ---------------------------------
MANIFEST_WITH_DESCRIPTION = MadoConcept("131560", "MADOTEMP001", "ddd001", "Manifest with Description")
SERIES_DATE = MadoConcept("131561", "MADOTEMP003", "ddd003", "Series Date")
SERIES_TIME = MadoConcept("131562", "MADOTEMP004", "ddd004", "Series Time")
SERIES_DESCRIPTION = MadoConcept("131563", "MADOTEMP002", "ddd002", "Series Description")
SERIES_RELATED_INSTANCES = MadoConcept("131564", "MADOTEMP007", "ddd007", "Number of Series Related Instances")
STUDY_RELATED_SERIES = MadoConcept("131565", "MADOTEMP009", "ddd009", "Number of Study Related Series")
# -- codes that are the same in every generation -------------------------------------------------------------------
IMAGE_LIBRARY = MadoConcept("111028", meaning="Image Library")
IMAGE_LIBRARY_GROUP = MadoConcept("126200", meaning="Image Library Group")
MODALITY = MadoConcept("121139", meaning="Modality")
TARGET_REGION = MadoConcept("123014", meaning="Target Region")
SERIES_NUMBER = MadoConcept("113607", meaning="Series Number")
SERIES_INSTANCE_UID = MadoConcept("112002", meaning="Series Instance UID")
IMAGE_LATERALITY = MadoConcept("111027", meaning="Image Laterality")
INSTANCE_NUMBER = MadoConcept("113609", meaning="Instance Number")
NUMBER_OF_FRAMES = MadoConcept("121140", meaning="Number of Frames")
DOCUMENT_TITLE = MadoConcept("121144", meaning="Document Title")
KEY_OBJECT_DESCRIPTION = MadoConcept("113012", meaning="Key Object Description")

ENTRY_DESCRIPTORS = (INSTANCE_NUMBER, NUMBER_OF_FRAMES, DOCUMENT_TITLE, KEY_OBJECT_DESCRIPTION)
REFERENCE_TYPES = frozenset({"IMAGE", "COMPOSITE", "WAVEFORM"})

DISPLAY_URI = BaseTag(0x0040E012)  # Display URI (UR), CP-2595; not in pydicom's dictionary yet
MADO_PRIVATE_GROUP = 0x000D
MADO_PRIVATE_CREATOR = "IHE_MADO_PRIVATE"
MADO_PRIVATE_DISPLAY_URI = 0x01  # (000D,xx01) UR in the TI supplement
_EVIDENCE = "CurrentRequestedProcedureEvidenceSequence"
_LEADING_INTEGER = re.compile(r"\s*\(?\s*([0-9]+)")


def is_mado_title(concept: Code | None) -> bool:
    """True for "Manifest with Description" in any of its three code generations."""
    return MANIFEST_WITH_DESCRIPTION.matches(concept)


def image_libraries(root: ContentItem) -> tuple[ContentItem, ...]:
    """The Image Library (111028) CONTAINERs under the root that hold Image Library Groups (126200)."""
    return tuple(
        c for c in root.children
        if c.value_type == "CONTAINER" and IMAGE_LIBRARY.matches(c.concept)
        and any(IMAGE_LIBRARY_GROUP.matches(g.concept) for g in c.children)
    )


def read_manifest(ds: Dataset, tree: WalkResult, source: str) -> ManifestDescription:
    """What a manifest KOS says: its series with retrieve side and descriptors, the Display URI, study descriptors.

    Never raises for malformed content; every deviation it tolerates is in ``findings``.
    """
    reader = _Reader(source)
    study_uid = _safe_text(ds, "StudyInstanceUID") or ""
    evidence = reader.evidence(ds, study_uid)
    display_uri = reader.display_uri(ds)
    title = tree.root.concept
    libraries = image_libraries(tree.root)
    mado = bool(libraries) or is_mado_title(title)
    modalities: list[str] = []
    regions: list[Code] = []
    series_count: int | None = None
    groups: list[tuple[str, ManifestSeries]] = []  # (content-item path, group)
    if mado and not libraries:
        reader.finding("1", "the manifest has no Image Library (111028) with Image Library Groups (126200); series "
                       "are read from the evidence only", Severity.WARNING)
    for library in libraries:
        for item in library.children:
            try:
                if IMAGE_LIBRARY_GROUP.matches(item.concept):
                    groups.append((item.path, reader.group(item, evidence)))
                elif MODALITY.matches(item.concept):
                    value = _code_value(item)
                    if value and value not in modalities:
                        modalities.append(value)
                elif TARGET_REGION.matches(item.concept) and item.code is not None:
                    if item.code not in regions:
                        regions.append(item.code)
                elif STUDY_RELATED_SERIES.matches(item.concept):
                    count = reader.count(item, "Number of Study Related Series", "series")
                    series_count = count if series_count is None else series_count
            except Exception as exc:  # noqa: BLE001 - one unreadable item never costs the rest of the manifest
                reader.finding(item.path, f"Image Library item cannot be read ({type(exc).__name__}: {exc}); "
                               "skipped", Severity.WARNING)
    series = reader.merge(evidence, groups, bool(libraries))
    return ManifestDescription(
        sop_instance_uid=_safe_text(ds, "SOPInstanceUID") or "",
        study_instance_uid=study_uid,
        title=title,
        mado=mado,
        display_uri=display_uri,
        modalities=tuple(modalities),
        target_regions=tuple(regions),
        series_count=series_count,
        series=series,
        findings=tuple(reader.findings),
    )


@dataclass(slots=True)
class _Evidence:
    """One series of the Current Requested Procedure Evidence Sequence."""

    series_instance_uid: str
    retrieve: RetrieveSite
    references: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Reader:
    source: str
    findings: list[Finding] = field(default_factory=list)

    def finding(self, where: str, message: str, severity: Severity = Severity.WARNING) -> None:
        self.findings.append(Finding(self.source, where, message, severity))

    # -- header -------------------------------------------------------------------------------------------------

    def evidence(self, ds: Dataset, study_uid: str) -> dict[str, _Evidence]:
        """Series UID -> retrieve side and references, from (0040,A375); study-item retrieve values as fallback."""
        found: dict[str, _Evidence] = {}
        try:
            studies = list(ds.get(_EVIDENCE) or ())
        except Exception as exc:  # noqa: BLE001
            self.finding(_EVIDENCE, f"cannot be read ({type(exc).__name__}: {exc}); no series from the evidence")
            return found
        if not studies:
            self.finding(_EVIDENCE, "absent or empty: the manifest lists no instances")
        for s, study in enumerate(studies, 1):
            where = f"{_EVIDENCE}[{s}]"
            try:
                item_study = text(study, "StudyInstanceUID")
                if item_study and study_uid and item_study != study_uid:
                    self.finding(where, f"evidence item of study {item_study}, not the manifest's study {study_uid}; "
                                 "its series are read all the same")
                fallback = _retrieve(study)
                for n, series in enumerate(study.get("ReferencedSeriesSequence") or (), 1):
                    self._evidence_series(series, fallback, f"{where}.ReferencedSeriesSequence[{n}]", found)
            except Exception as exc:  # noqa: BLE001
                self.finding(where, f"evidence item cannot be read ({type(exc).__name__}: {exc}); skipped")
        return found

    def _evidence_series(self, series: Dataset, fallback: RetrieveSite, where: str,
                         found: dict[str, _Evidence]) -> None:
        try:
            uid = text(series, "SeriesInstanceUID")
            if not uid:
                self.finding(where, "evidence series item without Series Instance UID; skipped")
                return
            own = _retrieve(series)
            retrieve = RetrieveSite(
                wado_rs_base_url=own.wado_rs_base_url or fallback.wado_rs_base_url,
                retrieve_ae_title=own.retrieve_ae_title or fallback.retrieve_ae_title,
                retrieve_location_uid=own.retrieve_location_uid or fallback.retrieve_location_uid,
            )
            entry = found.get(uid)
            if entry is None:
                entry = found[uid] = _Evidence(uid, retrieve)
            else:
                self.finding(where, f"series {uid} is listed twice in the evidence; references merged, the first "
                             "retrieve values kept", Severity.INFO)
            for sop in series.get("ReferencedSOPSequence") or ():
                sop_uid = text(sop, "ReferencedSOPInstanceUID")
                if sop_uid:
                    reference = (text(sop, "ReferencedSOPClassUID") or "", sop_uid)
                    if reference not in entry.references:
                        entry.references.append(reference)
        except Exception as exc:  # noqa: BLE001
            self.finding(where, f"evidence series item cannot be read ({type(exc).__name__}: {exc}); skipped")

    def display_uri(self, ds: Dataset) -> str | None:
        """(0040,E012) at top level, else in the evidence study item, else the TI private (000D,xx01)."""
        try:
            studies = list(ds.get(_EVIDENCE) or ())
        except Exception:  # noqa: BLE001 - reported by evidence()
            studies = []
        for holder in (ds, *studies):
            value = _uri(holder, DISPLAY_URI)
            if value:
                return value
        for holder in (*studies, ds):
            value = self._private_display_uri(holder)
            if value:
                return value
        return None

    def _private_display_uri(self, holder: Dataset) -> str | None:
        try:
            block = holder.private_block(MADO_PRIVATE_GROUP, MADO_PRIVATE_CREATOR)
        except (KeyError, ValueError):
            return None
        try:
            if MADO_PRIVATE_DISPLAY_URI not in block:
                return None
            return _uri(holder, block.get_tag(MADO_PRIVATE_DISPLAY_URI))
        except Exception:  # noqa: BLE001 - an unreadable private element is no Display URI
            return None

    # -- content tree -------------------------------------------------------------------------------------------

    def group(self, group: ContentItem, evidence: dict[str, _Evidence]) -> ManifestSeries:
        """One Image Library Group: its series descriptors and its entries."""
        values: dict[str, object] = {}
        entries: list[ManifestEntry] = []
        pending: list[ContentItem] = []  # instance descriptors written as siblings before their entry
        sibling_entries = 0
        for item in group.children:
            if item.value_type in REFERENCE_TYPES:
                if pending:
                    sibling_entries += 1
                entries.extend(self._entries(item, (*item.children, *pending)))
                pending = []
            elif any(d.matches(item.concept) for d in ENTRY_DESCRIPTORS):
                pending.append(item)
            else:
                self._group_value(item, values)
        if pending:
            self.finding(pending[0].path, f"{len(pending)} instance descriptor(s) after the group's last "
                         "IMAGE/COMPOSITE item belong to no instance; ignored")
        if sibling_entries:
            entries_text = "1 entry" if sibling_entries == 1 else f"{sibling_entries} entries"
            self.finding(group.path, f"instance descriptors of {entries_text} are siblings placed before their "
                         "IMAGE/COMPOSITE item instead of its children; read as that item's", Severity.INFO)
        uid = values.get("series_instance_uid")
        if not isinstance(uid, str) or not uid:
            uid = self._series_of_entries(group, entries, evidence)
        return ManifestSeries(
            series_instance_uid=uid,
            modality=_str(values.get("modality")),
            date=_str(values.get("date")),
            time=_str(values.get("time")),
            description=_str(values.get("description")),
            number=_str(values.get("number")),
            target_region=values.get("target_region") if isinstance(values.get("target_region"), Code) else None,
            target_region_text=_str(values.get("target_region_text")),
            laterality=values.get("laterality") if isinstance(values.get("laterality"), Code) else None,
            instance_count=values.get("instance_count") if isinstance(values.get("instance_count"), int) else None,
            entries=tuple(entries),
        )

    def _group_value(self, item: ContentItem, values: dict[str, object]) -> None:
        """A series descriptor of a group (table B); the first of each kind wins."""
        concept = item.concept
        key: str | None = None
        value: object = None
        if MODALITY.matches(concept):
            key, value = "modality", _code_value(item)
        elif SERIES_DATE.matches(concept):
            key, value = "date", item.text
        elif SERIES_TIME.matches(concept):
            key, value = "time", item.text
        elif SERIES_DESCRIPTION.matches(concept):
            key, value = "description", item.text
        elif SERIES_NUMBER.matches(concept):
            key, value = "number", self._number_text(item, "Series Number")
        elif SERIES_INSTANCE_UID.matches(concept):
            key, value = "series_instance_uid", item.text
        elif TARGET_REGION.matches(concept):
            if item.code is not None:
                key, value = "target_region", item.code
            else:
                key, value = "target_region_text", item.text
        elif IMAGE_LATERALITY.matches(concept):
            key, value = "laterality", item.code
        elif SERIES_RELATED_INSTANCES.matches(concept):
            key, value = "instance_count", self.count(item, "Number of Series Related Instances", "instances")
        if key is None or value is None:
            return
        if key in values:
            if values[key] != value:
                self.finding(item.path, f"second {concept.display if concept and concept.display else key} in the "
                             "group; the first is kept", Severity.INFO)
            return
        values[key] = value

    def _entries(self, item: ContentItem, descriptors: Iterable[ContentItem]) -> list[ManifestEntry]:
        """The entries of one IMAGE/COMPOSITE/WAVEFORM item; children come before sibling descriptors."""
        found: dict[str, object] = {}
        for d in descriptors:
            key: str
            value: object
            if INSTANCE_NUMBER.matches(d.concept):
                key, value = "instance_number", self._number_text(d, "Instance Number")
            elif NUMBER_OF_FRAMES.matches(d.concept):
                key, value = "number_of_frames", self.count(d, "Number of Frames", "frames")
            elif DOCUMENT_TITLE.matches(d.concept):
                key, value = "document_title", d.code
            elif KEY_OBJECT_DESCRIPTION.matches(d.concept):
                key, value = "description", d.text
            else:
                continue
            if value is not None and key not in found:
                found[key] = value
        return [
            ManifestEntry(
                sop_instance_uid=ref.sop_instance_uid,
                sop_class_uid=ref.sop_class_uid,
                instance_number=_str(found.get("instance_number")),
                number_of_frames=found.get("number_of_frames") if isinstance(found.get("number_of_frames"), int)
                else None,
                document_title=found.get("document_title") if isinstance(found.get("document_title"), Code) else None,
                description=_str(found.get("description")),
            )
            for ref in item.references
        ]

    def _series_of_entries(self, group: ContentItem, entries: list[ManifestEntry],
                           evidence: dict[str, _Evidence]) -> str:
        """The series of a group without Series Instance UID (112002): the evidence series of its entries."""
        uids = {e.sop_instance_uid for e in entries}
        candidates = [s.series_instance_uid for s in evidence.values() if uids & {r[1] for r in s.references}]
        if len(candidates) == 1:
            self.finding(group.path, f"Image Library Group without Series Instance UID (112002); its instances are "
                         f"of series {candidates[0]} in the evidence")
            return candidates[0]
        self.finding(group.path, "Image Library Group without Series Instance UID (112002), and its instances do not "
                     "name one evidence series; kept without a series UID")
        return ""

    def _number_text(self, item: ContentItem, name: str) -> str | None:
        """A TEXT number (Series/Instance Number) as written; a NUM is accepted with a finding."""
        if item.value_type == "NUM" and item.quantity is not None and item.quantity.value is not None:
            self.finding(item.path, f"{name} is NUM, not TEXT; read as {item.quantity.value}", Severity.INFO)
            return item.quantity.value
        return item.text.strip() if item.text else None

    def count(self, item: ContentItem, name: str, unit: str) -> int | None:
        """A NUM count as int; the TI sample's TEXT "(20, UCUM, "instances")" gives its leading integer."""
        if item.value_type == "NUM":
            raw = item.quantity.value if item.quantity is not None else None
            number = _integer(raw)
            if number is None:
                self.finding(item.path, f"{name} NUM {raw!r} is not a whole number of {unit}; ignored")
            return number
        if item.value_type == "TEXT" and item.text:
            match = _LEADING_INTEGER.match(item.text)
            if match is not None:
                number = int(match.group(1))
                self.finding(item.path, f"{name} is TEXT {item.text!r}, not NUM; read as {number}", Severity.INFO)
                return number
        self.finding(item.path, f"{name} is {item.value_type} {item.text!r}, not a NUM count; ignored")
        return None

    # -- evidence and groups together ---------------------------------------------------------------------------

    def merge(self, evidence: dict[str, _Evidence], groups: list[tuple[str, ManifestSeries]],
              library: bool) -> tuple[ManifestSeries, ...]:
        """One ManifestSeries per series: evidence order first, then groups whose series the evidence lacks."""
        by_uid: dict[str, ManifestSeries] = {}
        paths: dict[str, str] = {}
        for path, group in groups:
            if group.series_instance_uid in by_uid:
                self.finding(path, f"second Image Library Group of series {group.series_instance_uid or '(unknown)'}; "
                             "ignored, the first is kept")
                continue
            by_uid[group.series_instance_uid] = group
            paths[group.series_instance_uid] = path
        result: list[ManifestSeries] = []
        for uid, item in evidence.items():
            group = by_uid.pop(uid, None)
            if group is None:
                if library:
                    self.finding(_EVIDENCE, f"series {uid} of the evidence has no Image Library Group; no descriptors")
                result.append(ManifestSeries(uid, retrieve=item.retrieve, references=tuple(item.references)))
                continue
            result.append(ManifestSeries(
                series_instance_uid=uid, retrieve=item.retrieve, modality=group.modality, date=group.date,
                time=group.time, description=group.description, number=group.number,
                target_region=group.target_region, target_region_text=group.target_region_text,
                laterality=group.laterality, instance_count=group.instance_count, entries=group.entries,
                references=tuple(item.references)))
        for uid, group in by_uid.items():
            self.finding(paths[uid], f"Image Library Group of series {uid or '(unknown)'} is not in the evidence; "
                         "kept without retrieve information")
            result.append(group)
        return tuple(result)


def _retrieve(item: Dataset) -> RetrieveSite:
    return RetrieveSite(
        wado_rs_base_url=_uri(item, BaseTag(0x00081190)),
        retrieve_ae_title=text(item, "RetrieveAETitle"),
        retrieve_location_uid=text(item, "RetrieveLocationUID"),
    )


def _uri(holder: Dataset, tag: BaseTag) -> str | None:
    """A UR value by tag (known or not to pydicom); bytes of an implicit-VR or UN element decoded as UTF-8."""
    try:
        element = holder.get(tag)
        if element is None:
            return None
        value = element.value
    except Exception:  # noqa: BLE001 - an unreadable element is an absent one
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None:
        return None
    value = str(value).strip().strip("\x00").strip()
    return value or None


def _safe_text(ds: Dataset, keyword: str) -> str | None:
    try:
        return text(ds, keyword)
    except Exception:  # noqa: BLE001
        return None


def _code_value(item: ContentItem) -> str | None:
    if item.code is not None:
        return item.code.code
    return item.text.strip() if item.text else None


def _integer(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        return None
    return int(number)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
