"""Radiation dose SRs -> DoseSummary: the scanner-output narrative of sr-mapping.md §4 and the facts behind it.

Recognises the template (§1.2): projection X-ray (TID 10001), CT (TID 10011), radiopharmaceutical administration
(TID 10021) and patient dose estimates (TID 10030, registered only, no narrative). Reads the accumulated
quantities (§4.1), counts irradiation events without keeping them, and writes the deterministic narrative of
§4.3. Private content items never reach the narrative; they, and the items the walker dropped, are findings
with their content-item paths. A malformed tree never raises: what cannot be read is a finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from pydicom.dataset import Dataset

from bridge.extract.sr.general import base_report
from bridge.extract.sr.numeric import UCUM_FIXES
from bridge.extract.sr.tree import ContentItem, WalkResult, walk
from bridge.extract.values import (
    PRIVATE_SCHEME_BASE,
    SCHEME_SYSTEMS,
    SNOMED_LEGACY_SCHEMES,
    date_iso,
    dt_value,
    text,
    utc_offset,
)
from bridge.model import (
    Code,
    DeviceObserver,
    DicomDateTime,
    DoseKind,
    DoseSummary,
    Finding,
    Quantity,
    Report,
    Severity,
    StructuredContent,
)

DCM = SCHEME_SYSTEMS["DCM"]
SCT = SCHEME_SYSTEMS["SCT"]


def _dcm(code: str) -> Code:
    return Code(DCM, code)


# Roots and containers (sr-mapping.md §4.1)
XRAY_DOSE_REPORT = _dcm("113701")
RADIOPHARMACEUTICAL_DOSE_REPORT = _dcm("113500")
PATIENT_DOSE_REPORT = _dcm("128401")
PROCEDURE_REPORTED = _dcm("121058")
ACCUMULATED_XRAY_DOSE = _dcm("113702")
IRRADIATION_EVENT = _dcm("113706")
ACQUISITION_PLANE = _dcm("113764")
REFERENCE_POINT_DEFINITION = _dcm("113780")
DATETIME_STARTED = _dcm("111526")
CT_ACCUMULATED_DOSE = _dcm("113811")
CT_ACQUISITION = _dcm("113819")
CT_DOSE = _dcm("113829")
START_OF_IRRADIATION = _dcm("113809")
END_OF_IRRADIATION = _dcm("113810")
ACQUISITION_PROTOCOL = _dcm("125203")
TARGET_REGION = _dcm("123014")
MEAN_CTDIVOL = _dcm("113830")
CTDIW_PHANTOM = _dcm("113835")
EVENT_DLP = _dcm("113838")
RADIOPHARMACEUTICAL_ADMINISTRATION = _dcm("113502")
RADIOPHARMACEUTICAL_AGENT = Code(SCT, "349358000")
RADIOPHARMACEUTICAL = _dcm("123001")
ROUTE_OF_ADMINISTRATION = Code(SCT, "410675002")
RADIOPHARMACEUTICAL_START = _dcm("123003")
RADIOPHARMACEUTICAL_STOP = _dcm("123004")
ADMINISTERED_ACTIVITY = "113507"
LATERALITY = Code(SCT, "272741003")
DEVICE_ROLE_IN_PROCEDURE = _dcm("113876")

# Accumulated projection quantities (TID 10004) read per plane, and the mammography ones (TID 10005)
DAP_TOTAL = "113722"
FLUORO_DAP_TOTAL = "113726"
ACQUISITION_DAP_TOTAL = "113727"
DOSE_RP_TOTAL = "113725"
FLUORO_DOSE_RP_TOTAL = "113728"
ACQUISITION_DOSE_RP_TOTAL = "113729"
TOTAL_FLUORO_TIME = "113730"
TOTAL_ACQUISITION_TIME = "113855"
TOTAL_FRAMES = "113731"
AVERAGE_GLANDULAR_DOSE = "111637"
PROJECTION_TOTALS = (
    DAP_TOTAL,
    FLUORO_DAP_TOTAL,
    ACQUISITION_DAP_TOTAL,
    DOSE_RP_TOTAL,
    FLUORO_DOSE_RP_TOTAL,
    ACQUISITION_DOSE_RP_TOTAL,
    TOTAL_FLUORO_TIME,
    TOTAL_ACQUISITION_TIME,
    TOTAL_FRAMES,
    AVERAGE_GLANDULAR_DOSE,
)
CT_EVENT_COUNT = "113812"
CT_DLP_TOTAL = "113813"

TEMPLATE_KINDS = {
    "10001": DoseKind.PROJECTION,
    "10011": DoseKind.CT,
    "10021": DoseKind.RADIOPHARMACEUTICAL,
    "10030": DoseKind.PATIENT,
}
_SRT = PRIVATE_SCHEME_BASE + "SRT"  # a legacy SNOMED id the translation table does not know
PROJECTION_PROCEDURES = frozenset({(DCM, "113704"), (SCT, "71651007"), (_SRT, "P5-40010")})
CT_PROCEDURES = frozenset({(SCT, "77477000"), (_SRT, "P5-08000")})
PLANE_LABELS = {"113620": "A", "113621": "B"}  # 113622 Single Plane: no label
RADIOPHARMACEUTICAL_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.68"
PATIENT_DOSE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.73"

DISCLAIMER = "Values are scanner output metrics from the DICOM radiation dose structured report, not patient " \
    "absorbed dose."
MAX_CT_EVENTS = 10  # CT events listed in the narrative; the rest are counted ("and <k> more")

# Unit conversions into the narrative units (sr-mapping.md §4.3): UCUM code -> factor, per target unit
_CONVERSIONS: dict[str, dict[str, Decimal]] = {
    "Gy.cm2": {"Gy.m2": Decimal(10000), "Gy.cm2": Decimal(1), "dGy.cm2": Decimal("0.1"), "cGy.cm2": Decimal("0.01"),
               "mGy.cm2": Decimal("0.001"), "uGy.m2": Decimal("0.01"), "mGy.m2": Decimal(10),
               "uGy.cm2": Decimal("0.000001")},
    "mGy": {"Gy": Decimal(1000), "mGy": Decimal(1), "uGy": Decimal("0.001"), "cGy": Decimal(10), "dGy": Decimal(100)},
    "mGy.cm": {"mGy.cm": Decimal(1), "Gy.cm": Decimal(1000), "mGy.mm": Decimal("0.1"), "mGy.m": Decimal(100)},
    "s": {"s": Decimal(1), "ms": Decimal("0.001"), "min": Decimal(60), "h": Decimal(3600)},
    "MBq": {"MBq": Decimal(1), "Bq": Decimal("0.000001"), "kBq": Decimal("0.001"), "GBq": Decimal(1000),
            "mCi": Decimal(37), "uCi": Decimal("0.037"), "Ci": Decimal(37000)},
    "1": {"1": Decimal(1), "{frames}": Decimal(1), "{events}": Decimal(1)},
}


def extract_dose_report(ds: Dataset, source: str) -> Report:
    """The Report of a radiation dose SR, with its DoseSummary in ``content.dose``."""
    tree = walk(ds, source)
    report = base_report(ds, source, "sr-dose", tree)
    findings: list[Finding] = []
    device: DeviceObserver | None = None
    kind = DoseKind.OTHER
    try:
        device = _device(ds, report.device_observers, tree.root)
        kind = dose_kind(tree.root, text(ds, "SOPClassUID"))
        summary = _Summariser(ds, source, tree, device, findings).summary(kind)
    except Exception as exc:  # noqa: BLE001 - a malformed tree must never break the study
        findings.append(Finding(source, "", f"dose report cannot be summarised ({type(exc).__name__}: {exc}); "
                                "no narrative", Severity.ERROR))
        summary = DoseSummary(kind=kind, narrative="", title=tree.root.concept, device=device)
    findings.extend(_private_items(tree.root, source))
    return replace(
        report,
        content=StructuredContent(dose=summary),
        manufacturer_generated=True,
        findings=(*report.findings, *findings),
    )


def dose_kind(root: ContentItem, sop_class_uid: str | None = None) -> DoseKind:
    """Which dose template the tree follows (sr-mapping.md §1.2): template id, else root concept and children."""
    if root.template_id in TEMPLATE_KINDS:
        return TEMPLATE_KINDS[root.template_id]
    if root.is_concept(RADIOPHARMACEUTICAL_DOSE_REPORT):
        return DoseKind.RADIOPHARMACEUTICAL
    if root.is_concept(PATIENT_DOSE_REPORT):
        return DoseKind.PATIENT
    if root.is_concept(XRAY_DOSE_REPORT):
        procedure = root.child(PROCEDURE_REPORTED)
        if procedure is not None and procedure.code is not None:
            key = (procedure.code.system, procedure.code.code)
            if key in PROJECTION_PROCEDURES:
                return DoseKind.PROJECTION
            if key in CT_PROCEDURES:
                return DoseKind.CT
    if root.children_named(ACCUMULATED_XRAY_DOSE) or root.children_named(IRRADIATION_EVENT):
        return DoseKind.PROJECTION
    if root.children_named(CT_ACCUMULATED_DOSE) or root.children_named(CT_ACQUISITION):
        return DoseKind.CT
    if sop_class_uid == RADIOPHARMACEUTICAL_SOP_CLASS:
        return DoseKind.RADIOPHARMACEUTICAL
    if sop_class_uid == PATIENT_DOSE_SOP_CLASS:
        return DoseKind.PATIENT
    return DoseKind.OTHER


@dataclass(slots=True)
class _Plane:
    """One Accumulated X-Ray Dose Data container (TID 10002) and what it holds."""

    path: str
    plane: str | None  # Acquisition Plane code value (113620 / 113621 / 113622)
    values: dict[str, Quantity] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # content-item path of each value
    glandular: list[tuple[Quantity, str | None, str]] = field(default_factory=list)  # 111637, laterality, path
    reference_point: str | None = None
    events: int = 0

    @property
    def label(self) -> str | None:
        return PLANE_LABELS.get(self.plane or "")

    @property
    def all_zero(self) -> bool:
        numbers = [_decimal(q.value) for q in self.values.values()] + [_decimal(q.value) for q, _, _ in self.glandular]
        return all(n is None or n == 0 for n in numbers)


class _Summariser:
    def __init__(self, ds: Dataset, source: str, tree: WalkResult, device: DeviceObserver | None,
                 findings: list[Finding]) -> None:
        self.ds = ds
        self.source = source
        self.root = tree.root
        self.device = device
        self.findings = findings
        self.offset = utc_offset(ds)

    def note(self, where: str, message: str, severity: Severity = Severity.INFO) -> None:
        self.findings.append(Finding(self.source, where, message, severity))

    def summary(self, kind: DoseKind) -> DoseSummary:
        if kind is DoseKind.PROJECTION:
            return self.projection()
        if kind is DoseKind.CT:
            return self.ct()
        if kind is DoseKind.RADIOPHARMACEUTICAL:
            return self.radiopharmaceutical()
        if kind is DoseKind.PATIENT:
            self.note("1", "patient radiation dose report: a dose estimate, not scanner output; registered only, "
                      "no narrative (sr-mapping.md §4.2)")
        else:
            self.note("1", "radiation dose SR with an unrecognised template; registered only, no narrative",
                      Severity.WARNING)
        return DoseSummary(kind=kind, narrative="", title=self.root.concept, device=self.device)

    # -- projection X-ray (TID 10001) -------------------------------------------------------------------------

    def projection(self) -> DoseSummary:
        root = self.root
        events = root.children_named(IRRADIATION_EVENT)
        planes = [self._plane(item) for item in root.children_named(ACCUMULATED_XRAY_DOSE)]
        event_planes = [_plane_code(event) for event in events]
        for plane in planes:
            if len(planes) == 1:
                plane.events = len(events)
            else:
                plane.events = sum(1 for code in event_planes if code == plane.plane)
        if not planes:
            self.note("1", "no Accumulated X-Ray Dose Data (113702) container; only the events are counted",
                      Severity.WARNING)
        shown = []
        for plane in planes:
            if plane.all_zero:
                label = f"plane {plane.label}" if plane.label else "the accumulated dose data"
                self.note(plane.path, f"all accumulated totals of {label} are 0; left out of the narrative")
            else:
                shown.append(plane)
        started, ended = self._event_period(events)
        head = self._head(text(self.ds, "StudyDescription") or "Projection X-ray", with_device_name=True)
        sentences = [head]
        sentences.extend(self._plane_sentence(plane) for plane in shown)
        if not shown:
            sentences.append(_sentence([_count(len(events), "irradiation event")]))
        sentences.append(DISCLAIMER)
        totals = tuple((code, q) for plane in shown for code, q in plane.values.items())
        totals += tuple((AVERAGE_GLANDULAR_DOSE, q) for plane in shown for q, _, _ in plane.glandular)
        return DoseSummary(
            kind=DoseKind.PROJECTION,
            narrative=" ".join(sentences),
            title=root.concept,
            started=started,
            ended=ended,
            events=len(events),
            totals=totals,
            device=self.device,
        )

    def _plane(self, container: ContentItem) -> _Plane:
        plane = _Plane(container.path, _plane_code(container))
        for item in container.children:
            code = _dcm_code(item)
            if code is None:
                continue
            if item.is_concept(REFERENCE_POINT_DEFINITION):
                plane.reference_point = _label(item)
            elif item.value_type == "NUM" and code in PROJECTION_TOTALS and item.quantity is not None:
                if item.quantity.value is None:
                    self.note(item.path, f"{item.meaning or code} has no value; left out of the narrative")
                elif code == AVERAGE_GLANDULAR_DOSE:
                    side = item.child(LATERALITY)
                    plane.glandular.append((item.quantity, _label(side), item.path))
                elif code in plane.values:
                    self.note(item.path, f"{item.meaning or code} repeated in one plane; the first is used")
                else:
                    plane.values[code] = item.quantity
                    plane.paths[code] = item.path
        return plane

    def _plane_sentence(self, plane: _Plane) -> str:
        def value(code: str, unit: str) -> Decimal | None:
            return self._convert(plane.values.get(code), unit, plane.paths.get(code, plane.path))

        clauses: list[str] = []
        fluoro_time = value(TOTAL_FLUORO_TIME, "s")
        if fluoro_time is not None:
            clauses.append(f"fluoroscopy time {_mmss(fluoro_time)}")
        dap = value(DAP_TOTAL, "Gy.cm2")
        parts = [(name, value(code, "Gy.cm2"))
                 for name, code in (("fluoroscopy", FLUORO_DAP_TOTAL), ("acquisition", ACQUISITION_DAP_TOTAL))]
        parts_text = ", ".join(f"{name} {_sig3(number)}" for name, number in parts if number is not None)
        if dap is not None:
            clauses.append(f"dose area product total {_sig3(dap)} Gy.cm2" + (f" ({parts_text})" if parts_text else ""))
        elif parts_text:
            clauses.append(f"dose area product {parts_text} Gy.cm2")
        kerma = value(DOSE_RP_TOTAL, "mGy")
        if kerma is not None:
            definition = f" ({plane.reference_point})" if plane.reference_point else ""
            clauses.append(f"reference point air kerma total {_sig3(kerma)} mGy{definition}")
        for quantity, side, path in plane.glandular:
            agd = self._convert(quantity, "mGy", path)
            if agd is not None:
                clauses.append(f"accumulated average glandular dose {_sig3(agd)} mGy" + (f" ({side})" if side else ""))
        frames = value(TOTAL_FRAMES, "1")
        if frames is not None:
            clauses.append(_count(frames, "radiographic frame"))
        clauses.append(_count(plane.events, "irradiation event"))
        if plane.label:
            clauses.append(f"plane {plane.label}")
        return _sentence(clauses)

    def _event_period(self, events: Iterable[ContentItem]) -> tuple[DicomDateTime | None, DicomDateTime | None]:
        moments = []
        for event in events:
            item = event.child(DATETIME_STARTED)
            if item is None or not item.text:
                continue
            moment = dt_value(item.text, self.offset)
            if moment is None:
                self.note(item.path, f"DateTime Started {item.text!r} is not a DICOM date-time; ignored",
                          Severity.WARNING)
            else:
                moments.append(moment)
        if not moments:
            return None, None
        return min(moments, key=_sort_key), max(moments, key=_sort_key)

    # -- CT (TID 10011) ---------------------------------------------------------------------------------------

    def ct(self) -> DoseSummary:
        root = self.root
        events = root.children_named(CT_ACQUISITION)
        accumulated = root.child(CT_ACCUMULATED_DOSE)
        totals: list[tuple[str, Quantity]] = []
        count_total: Decimal | None = None
        dlp_total: Decimal | None = None
        if accumulated is None:
            self.note("1", "no CT Accumulated Dose Data (113811) container; the events are counted", Severity.WARNING)
        else:
            for item in accumulated.children:
                code = _dcm_code(item)
                if item.value_type != "NUM" or item.quantity is None or code not in (CT_EVENT_COUNT, CT_DLP_TOTAL):
                    continue
                if item.quantity.value is None:
                    self.note(item.path, f"{item.meaning or code} has no value; left out of the narrative")
                    continue
                if code == CT_EVENT_COUNT and count_total is None:
                    count_total = _decimal(item.quantity.value)
                    totals.append((code, item.quantity))
                elif code == CT_DLP_TOTAL and dlp_total is None:
                    dlp_total = self._convert(item.quantity, "mGy.cm", item.path)
                    totals.append((code, item.quantity))
        regions: list[str] = []
        described: list[str] = []
        for index, event in enumerate(events, start=1):
            region = event.child(TARGET_REGION)
            if region is not None and region.code is not None:
                name = region.code.display or region.code.code
                if name not in regions:
                    regions.append(name)
            if index <= MAX_CT_EVENTS:
                described.append(self._ct_event(event, index))
        n = int(count_total) if count_total is not None else len(events)
        if count_total is not None and int(count_total) != len(events):
            self.note(accumulated.path if accumulated else "1", f"Total Number of Irradiation Events says "
                      f"{int(count_total)}, the report holds {len(events)} CT Acquisition containers")
        head = self._head("CT" + (f" {', '.join(regions)}" if regions else ""), with_device_name=False)
        overview = [_count(n, "irradiation event")]
        if dlp_total is not None:
            overview.append(f"total DLP {_sig3(dlp_total)} mGy.cm")
        sentences = [head, _sentence(overview)]
        if described:
            if len(events) > MAX_CT_EVENTS:
                described.append(f"and {len(events) - MAX_CT_EVENTS} more")
            sentences.append("; ".join(described) + ".")
        sentences.append(DISCLAIMER)
        started = self._root_datetime(START_OF_IRRADIATION, accumulated)
        ended = self._root_datetime(END_OF_IRRADIATION, accumulated)
        if started is None and ended is None:
            started, ended = self._event_period(events)
        return DoseSummary(
            kind=DoseKind.CT,
            narrative=" ".join(sentences),
            title=root.concept,
            started=started,
            ended=ended,
            events=n,
            totals=tuple(totals),
            device=self.device,
        )

    def _ct_event(self, event: ContentItem, index: int) -> str:
        protocol = _label(event.child(ACQUISITION_PROTOCOL))
        dose = event.child(CT_DOSE) or event  # tolerate the quantities directly under the acquisition
        ctdi_item = dose.child(MEAN_CTDIVOL) or event.child(MEAN_CTDIVOL)
        dlp_item = dose.child(EVENT_DLP) or event.child(EVENT_DLP)
        phantom_item = dose.child(CTDIW_PHANTOM) or event.child(CTDIW_PHANTOM)
        parts = []
        ctdi = self._convert(ctdi_item.quantity if ctdi_item else None, "mGy", ctdi_item.path if ctdi_item else "")
        if ctdi is not None:
            phantom = _label(phantom_item)
            parts.append(f"CTDIvol {_sig3(ctdi)} mGy" + (f" ({phantom})" if phantom else ""))
        dlp = self._convert(dlp_item.quantity if dlp_item else None, "mGy.cm", dlp_item.path if dlp_item else "")
        if dlp is not None:
            parts.append(f"DLP {_sig3(dlp)} mGy.cm")
        name = protocol or f"Irradiation event {index}"
        return f"{name}: {', '.join(parts)}" if parts else name

    def _root_datetime(self, concept: Code, accumulated: ContentItem | None) -> DicomDateTime | None:
        item = self.root.child(concept) or (accumulated.child(concept) if accumulated else None)
        if item is None or not item.text:
            return None
        moment = dt_value(item.text, self.offset)
        if moment is None:
            self.note(item.path, f"{item.meaning or concept.code} {item.text!r} is not a DICOM date-time; ignored",
                      Severity.WARNING)
        return moment

    # -- radiopharmaceutical administration (TID 10021) -------------------------------------------------------

    def radiopharmaceutical(self) -> DoseSummary:
        root = self.root
        containers = root.children_named(RADIOPHARMACEUTICAL_ADMINISTRATION)
        sentences = []
        totals: list[tuple[str, Quantity]] = []
        starts: list[DicomDateTime] = []
        stops: list[DicomDateTime] = []
        for item in containers or (root,):
            agent = _label(item.child(RADIOPHARMACEUTICAL_AGENT) or item.child(RADIOPHARMACEUTICAL))
            activity_item = next((c for c in item.children if _dcm_code(c) == ADMINISTERED_ACTIVITY), None)
            activity = None
            if activity_item is not None and activity_item.quantity is not None:
                activity = self._convert(activity_item.quantity, "MBq", activity_item.path)
                if activity is not None:
                    totals.append((ADMINISTERED_ACTIVITY, activity_item.quantity))
            route = _label(item.child(ROUTE_OF_ADMINISTRATION))
            start = self._datetime_of(item.child(RADIOPHARMACEUTICAL_START))
            stop = self._datetime_of(item.child(RADIOPHARMACEUTICAL_STOP))
            if start is not None:
                starts.append(start)
            if stop is not None:
                stops.append(stop)
            sentence = " ".join(w for w in (agent, f"{_sig3(activity)} MBq" if activity is not None else None, route)
                                if w)
            if start is not None:
                sentence = f"{sentence}, {_readable(start)}" if sentence else _readable(start)
            if sentence:
                sentences.append(sentence + ".")
        if not sentences:
            self.note(root.path, "radiopharmaceutical dose report without agent, activity or route; no narrative",
                      Severity.WARNING)
        moments = starts + stops
        return DoseSummary(
            kind=DoseKind.RADIOPHARMACEUTICAL,
            narrative=" ".join(sentences),
            title=root.concept,
            started=min(starts, key=_sort_key) if starts else None,
            ended=max(moments, key=_sort_key) if moments else None,
            events=len(containers),
            totals=tuple(totals),
            device=self.device,
        )

    def _datetime_of(self, item: ContentItem | None) -> DicomDateTime | None:
        if item is None or not item.text:
            return None
        moment = dt_value(item.text, self.offset)
        if moment is None:
            self.note(item.path, f"{item.meaning or 'date-time'} {item.text!r} is not a DICOM date-time; ignored",
                      Severity.WARNING)
        return moment

    # -- shared ------------------------------------------------------------------------------------------------

    def _head(self, procedure: str, with_device_name: bool) -> str:
        """The first sentence: procedure on manufacturer, model (device observer name), date."""
        device = self.device
        manufacturer = text(self.ds, "Manufacturer") or (device.manufacturer if device else None)
        model = text(self.ds, "ManufacturerModelName") or (device.model_name if device else None)
        equipment = " ".join(v for v in (manufacturer, model) if v)
        name = device.name if device is not None and with_device_name else None
        if name:
            equipment = f"{equipment} ({name})" if equipment else f"({name})"
        date = date_iso(text(self.ds, "StudyDate")) or date_iso(text(self.ds, "ContentDate"))
        head = procedure + (f" on {equipment}" if equipment else "") + (f", {date}" if date else "")
        return head + "."

    def _convert(self, quantity: Quantity | None, target: str, where: str) -> Decimal | None:
        """``quantity`` in ``target`` units; None (and a finding) when absent or in units that do not convert."""
        if quantity is None or quantity.value is None:
            return None
        value = _decimal(quantity.value)
        if value is None:
            return None
        unit = quantity.ucum or UCUM_FIXES.get(quantity.unit or "", quantity.unit or "")
        factor = _CONVERSIONS[target].get(unit)
        if factor is None:
            self.note(where, f"value {quantity.value} in unit {quantity.unit or unit or '(none)'} cannot be shown in "
                      f"{target}; left out of the narrative", Severity.WARNING)
            return None
        return value * factor


def _private_items(root: ContentItem, source: str) -> list[Finding]:
    """One finding per container holding private content items (private coding schemes): they are not mapped."""
    by_parent: dict[str, list[ContentItem]] = {}
    stack = [root]
    while stack:
        item = stack.pop()
        for child in item.children:
            if _is_private(child.concept):
                by_parent.setdefault(item.path, []).append(child)
            else:
                stack.append(child)
    findings = []
    for parent in sorted(by_parent, key=_path_key):
        items = by_parent[parent]
        schemes = sorted({(i.concept.system if i.concept else "").removeprefix(PRIVATE_SCHEME_BASE) for i in items})
        paths = ", ".join(i.path for i in items)
        findings.append(Finding(source, parent, f"{len(items)} private content item(s) ({', '.join(schemes)}) not "
                                f"mapped: {paths}", Severity.INFO))
    return findings


def _is_private(concept: Code | None) -> bool:
    if concept is None or not concept.system.startswith(PRIVATE_SCHEME_BASE):
        return False
    return concept.system.removeprefix(PRIVATE_SCHEME_BASE) not in SNOMED_LEGACY_SCHEMES


def _device(ds: Dataset, observers: tuple[DeviceObserver, ...], root: ContentItem) -> DeviceObserver | None:
    """The irradiating device: the TID 1002 device observer, completed from the General Equipment module;
    else the first event's Device Role in Procedure (113876), else the General Equipment module alone."""
    device = observers[0] if observers else _event_device(root)
    equipment = DeviceObserver(
        uid=text(ds, "DeviceUID"),
        name=text(ds, "StationName"),
        manufacturer=text(ds, "Manufacturer"),
        model_name=text(ds, "ManufacturerModelName"),
        serial_number=text(ds, "DeviceSerialNumber"),
    )
    if device is None:
        return equipment if any((equipment.uid, equipment.manufacturer, equipment.model_name,
                                 equipment.serial_number, equipment.name)) else None
    return replace(
        device,
        manufacturer=device.manufacturer or equipment.manufacturer,
        model_name=device.model_name or equipment.model_name,
        serial_number=device.serial_number or equipment.serial_number,
    )


def _event_device(root: ContentItem) -> DeviceObserver | None:
    for event in (*root.children_named(IRRADIATION_EVENT), *root.children_named(CT_ACQUISITION)):
        role = event.child(DEVICE_ROLE_IN_PROCEDURE)
        if role is None:
            continue
        props = {_dcm_code(c): c.text for c in role.children}
        device = DeviceObserver(name=props.get("113877"), manufacturer=props.get("113878"),
                                model_name=props.get("113879"), serial_number=props.get("113880"))
        if any((device.name, device.manufacturer, device.model_name, device.serial_number)):
            return device
    return None


def _label(item: ContentItem | None) -> str | None:
    """What a TEXT or CODE item says: the text, or the code's meaning (its value when it has none)."""
    if item is None:
        return None
    if item.code is not None:
        return item.code.display or item.code.code
    return item.text


def _plane_code(item: ContentItem) -> str | None:
    plane = item.child(ACQUISITION_PLANE)
    return plane.code.code if plane is not None and plane.code is not None else None


def _dcm_code(item: ContentItem) -> str | None:
    return item.concept.code if item.concept is not None and item.concept.system == DCM else None


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _sig3(value: Decimal) -> str:
    """Three significant digits, never in exponent form: 0.0937, 1.36, 14.1, 1230."""
    if value == 0:
        return "0"
    rounded = value.quantize(Decimal(1).scaleb(value.adjusted() - 2), rounding=ROUND_HALF_UP)
    if rounded.adjusted() != value.adjusted():  # 9.996 -> 10.00: one digit too many
        rounded = rounded.quantize(Decimal(1).scaleb(rounded.adjusted() - 2), rounding=ROUND_HALF_UP)
    return format(rounded, "f")


def _mmss(seconds: Decimal) -> str:
    total = int(seconds.to_integral_value(rounding=ROUND_HALF_UP))
    return f"{total // 60:02d}:{total % 60:02d}"


def _count(number: Decimal | int, noun: str) -> str:
    value = Decimal(number)
    shown = str(int(value)) if value == value.to_integral_value() else _sig3(value)
    return f"{shown} {noun}" + ("" if value == 1 else "s")


def _sentence(clauses: list[str]) -> str:
    body = "; ".join(clauses)
    return (body[:1].upper() + body[1:] + ".") if body else ""


def _readable(moment: DicomDateTime) -> str:
    """A date-time for prose: "2020-12-10 07:56" (minutes), or the date alone."""
    if not moment.has_time:
        return moment.iso
    day, clock = moment.iso.split("T", 1)
    return f"{day} {clock[:5]}" + (f" {moment.utc_offset}" if moment.utc_offset else "")


def _sort_key(moment: DicomDateTime) -> str:
    return moment.iso


def _path_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.split(".") if part.isdigit())


__all__ = ["dose_kind", "extract_dose_report"]
