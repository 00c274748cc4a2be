"""A received manifest against the instances actually received: where what it says and the images disagree.

``check_manifest`` compares a ManifestDescription (bridge.extract.sr.mado) with the Study built from the received
headers and returns one WARNING per disagreement, naming the series, the manifest's value and the images' value.
Values only one side has are not compared; equal values are not reported. Missing and unlisted instances are
reported once per series; a count is reported only when the manifest's own listing does not already explain it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from bridge.extract.codes import anatomic_regions_for
from bridge.extract.values import SNOMED_SYSTEM, date_iso, time_iso
from bridge.model import Code, Finding, ObjectKind, Series, Severity, Study
from bridge.model.manifest import ManifestDescription, ManifestSeries

MAX_LISTED_UIDS = 3  # UIDs named in a finding about missing or unlisted instances
MAX_INSTANCE_FINDINGS = 5  # per series and attribute; the rest is summed up in one more finding


def check_manifest(manifest: ManifestDescription, study: Study, source: str) -> tuple[Finding, ...]:
    """The disagreements between ``manifest`` and the instances of ``study`` (the manifest itself left out)."""
    check = _Check(manifest, source)
    if manifest.study_instance_uid != study.study_instance_uid:
        check.warn("StudyInstanceUID", f"describes study {manifest.study_instance_uid or '(none)'}, not study "
                   f"{study.study_instance_uid}; not compared")
        return tuple(check.findings)
    received = _received(study, manifest.sop_instance_uid)
    by_uid = {s.series_instance_uid: s for s in received}
    listed_uids = {m.series_instance_uid for m in manifest.series if m.series_instance_uid}
    for described in manifest.series:
        series = by_uid.get(described.series_instance_uid)
        if series is None:
            check.missing_series(described)
            continue
        check.series(described, series)
    for series in received:
        if series.series_instance_uid not in listed_uids:
            check.unlisted_series(series)
    check.study(received, listed_uids)
    return tuple(check.findings)


def _received(study: Study, manifest_uid: str) -> list[Series]:
    """The study's series without the manifest itself (a manifest never lists itself); emptied series dropped."""
    series: list[Series] = []
    for s in study.series:
        instances = tuple(i for i in s.instances if i.sop_instance_uid != manifest_uid)
        if instances:
            series.append(s if len(instances) == len(s.instances) else replace(s, instances=instances))
    return series


def _listed(described: ManifestSeries) -> dict[str, None]:
    """The SOP Instance UIDs a manifest lists for a series: evidence references, then Image Library entries."""
    return dict.fromkeys([*(uid for _, uid in described.references), *(e.sop_instance_uid for e in described.entries)])


@dataclass(slots=True)
class _Check:
    manifest: ManifestDescription
    source: str
    findings: list[Finding] = field(default_factory=list)

    def warn(self, where: str, message: str) -> None:
        self.findings.append(Finding(self.source, where, f"manifest {self.manifest.sop_instance_uid} {message}",
                                     Severity.WARNING))

    def differs(self, where: str, series_uid: str, name: str, says: object, images: object) -> None:
        self.warn(where, f"says series {series_uid} {name} {says}; the images say {images}")

    # -- series -------------------------------------------------------------------------------------------------

    def series(self, described: ManifestSeries, series: Series) -> None:
        uid = series.series_instance_uid
        if described.modality and series.modality and described.modality.strip() != series.modality.strip():
            self.differs("Modality", uid, "Modality", described.modality, series.modality)
        started = series.started
        if described.date and started is not None:
            says = date_iso(described.date)
            if says != started.iso[:10]:
                self.differs("SeriesDate", uid, "Series Date", described.date, _dicom_date(started.iso))
        if described.time and started is not None and started.has_time:
            images = started.iso.partition("T")[2]
            if not _same_time(described.time, images):
                self.differs("SeriesTime", uid, "Series Time", described.time, images.replace(":", ""))
        if described.description is not None and series.series_description is not None and (
                described.description.strip() != series.series_description.strip()):
            self.differs("SeriesDescription", uid, "Series Description", repr(described.description),
                         repr(series.series_description))
        if described.number is not None and series.series_number is not None and not _same_number(
                described.number, series.series_number):
            self.differs("SeriesNumber", uid, "Series Number", described.number, series.series_number)
        self.region(described, series)
        listed = _listed(described)
        received = {i.sop_instance_uid for i in series.instances}
        missing = [u for u in listed if u not in received]
        unlisted = [i.sop_instance_uid for i in series.instances if i.sop_instance_uid not in listed]
        if described.instance_count is not None and described.instance_count not in (len(series.instances),
                                                                                      len(listed)):
            self.differs("NumberOfSeriesRelatedInstances", uid, "Number of Series Related Instances",
                         described.instance_count, f"{len(series.instances)} received")
        if missing:
            self.warn("ReferencedSOPInstanceUID", f"lists {len(missing)} instance(s) of series {uid} that were not "
                      f"received: {_some(missing)}")
        if unlisted:
            self.warn("ReferencedSOPInstanceUID", f"does not list {len(unlisted)} received instance(s) of series "
                      f"{uid}: {_some(unlisted)}")
        self.instances(described, series)

    def region(self, described: ManifestSeries, series: Series) -> None:
        """Target Region (CODE) against the series' SNOMED CT body site, at the level of the anatomical regions."""
        says, site = described.target_region, series.body_site
        if says is None or site is None or says.system != SNOMED_SYSTEM or site.system != SNOMED_SYSTEM:
            return
        if says.code == site.code:
            return
        said_regions = {r.code for r in anatomic_regions_for(says.code, "SCT")}
        site_regions = {r.code for r in anatomic_regions_for(site.code, "SCT")}
        if not said_regions or not site_regions or said_regions & site_regions:
            return  # an unknown code cannot be compared; a shared region is agreement at the manifest's level
        images = _shown(site)
        if series.body_part_examined:
            images += f", from Body Part Examined {series.body_part_examined}"
        self.differs("TargetRegion", series.series_instance_uid, "Target Region", _shown(says), images)

    def instances(self, described: ManifestSeries, series: Series) -> None:
        """Instance Number and Number of Frames of each received instance the Image Library describes."""
        entries = {e.sop_instance_uid: e for e in described.entries}
        numbers: list[str] = []
        frames: list[str] = []
        for instance in series.instances:
            entry = entries.get(instance.sop_instance_uid)
            if entry is None:
                continue
            if entry.instance_number is not None and instance.instance_number is not None and not _same_number(
                    entry.instance_number, instance.instance_number):
                numbers.append(f"instance {instance.sop_instance_uid} Instance Number {entry.instance_number}; the "
                               f"image says {instance.instance_number}")
            image_frames = instance.number_of_frames
            if image_frames is None and instance.kind is ObjectKind.IMAGE:
                image_frames = 1  # a single-frame image has no Number of Frames
            if entry.number_of_frames is not None and image_frames is not None and (
                    entry.number_of_frames != image_frames):
                frames.append(f"instance {instance.sop_instance_uid} Number of Frames {entry.number_of_frames}; the "
                              f"image says {image_frames}")
        self._per_instance("InstanceNumber", series.series_instance_uid, "Instance Number", numbers)
        self._per_instance("NumberOfFrames", series.series_instance_uid, "Number of Frames", frames)

    def _per_instance(self, where: str, series_uid: str, name: str, messages: list[str]) -> None:
        for message in messages[:MAX_INSTANCE_FINDINGS]:
            self.warn(where, f"says series {series_uid} {message}")
        if len(messages) > MAX_INSTANCE_FINDINGS:
            self.warn(where, f"says another {name} than the images for {len(messages) - MAX_INSTANCE_FINDINGS} more "
                      f"instance(s) of series {series_uid}")

    def missing_series(self, described: ManifestSeries) -> None:
        listed = list(_listed(described))
        uid = described.series_instance_uid or "(without a Series Instance UID)"
        some = f": {_some(listed)}" if listed else ""
        self.warn("SeriesInstanceUID", f"lists series {uid} with {len(listed)} instance(s), none received{some}")

    def unlisted_series(self, series: Series) -> None:
        uids = [i.sop_instance_uid for i in series.instances]
        self.warn("SeriesInstanceUID", f"does not list received series {series.series_instance_uid} "
                  f"({len(uids)} instance(s)): {_some(uids)}")

    # -- study --------------------------------------------------------------------------------------------------

    def study(self, received: list[Series], listed_uids: set[str]) -> None:
        count = self.manifest.series_count
        if count is not None and count not in (len(received), len(listed_uids)):
            self.warn("NumberOfStudyRelatedSeries", f"says Number of Study Related Series {count}; the images have "
                      f"{len(received)} series")
        said = set(self.manifest.modalities)
        if not said:
            return
        by_uid = {s.series_instance_uid: s for s in received}
        listed = [(d, by_uid.get(d.series_instance_uid)) for d in self.manifest.series]
        # every modality of the listed series may be named; those of image series must be (KO, SR, PR may be left out)
        allowed = {s.modality if s is not None else d.modality for d, s in listed} - {None, ""}
        required = {s.modality for _, s in listed if s is not None and any(i.kind is ObjectKind.IMAGE
                                                                             for i in s.instances)}
        if allowed and (required - said or said - allowed):
            self.warn("Modality", f"says study Modality {', '.join(self.manifest.modalities)}; the images say "
                      f"{', '.join(sorted(m for m in allowed if m))}")


def _some(uids: Iterable[str]) -> str:
    listed = list(uids)
    shown = ", ".join(listed[:MAX_LISTED_UIDS])
    return shown + (", …" if len(listed) > MAX_LISTED_UIDS else "")


def _shown(code: Code) -> str:
    return f"{code.code} ({code.display})" if code.display else code.code


def _dicom_date(iso: str) -> str:
    return iso[:10].replace("-", "")


def _same_number(says: str, images: int) -> bool:
    """A TEXT number (Series/Instance Number as written) against the header's integer: "07" equals 7."""
    try:
        return int(says.strip()) == images
    except ValueError:
        return says.strip() == str(images)


def _same_time(says: str, images: str) -> bool:
    """A DICOM TM against the header's HH:MM:SS[.ffffff], to the precision the manifest gives.

    "164758.337000" equals 16:47:58.337; "1647" equals 16:47:58 (the manifest names the minute only); a
    fraction is compared only when both sides have one.
    """
    said = time_iso(says)
    if said is None:
        return says.strip() == images
    digits = len(says.strip().replace(":", "").partition(".")[0])  # 2, 4 or 6: hours, minutes or seconds
    said_clock, _, said_fraction = said.partition(".")
    image_clock, _, image_fraction = images.partition(".")
    width = {2: 2, 4: 5}.get(digits, 8)  # characters of HH:MM:SS compared
    if said_clock[:width] != image_clock[:width]:
        return False
    if width < 8 or not said_fraction or not image_fraction:
        return True
    try:
        return Decimal("0." + said_fraction) == Decimal("0." + image_fraction)
    except InvalidOperation:
        return said_fraction == image_fraction
