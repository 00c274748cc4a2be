"""What an instance is: SOP class, then SR template id, then the SR root concept (sr-mapping.md §1)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from bridge.extract.sr.tree import template_id
from bridge.extract.values import text
from bridge.model import ObjectKind

# PS3.4 B.5 storage SOP classes the bridge reads report content from
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
EXTENSIBLE_SR = "1.2.840.10008.5.1.4.1.1.88.35"
XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
RADIOPHARMACEUTICAL_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.68"
PATIENT_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.73"
ENHANCED_XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.76"
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
ENCAPSULATED_CDA = "1.2.840.10008.5.1.4.1.1.104.2"

REPORT_SR_CLASSES = frozenset({BASIC_TEXT_SR, ENHANCED_SR, COMPREHENSIVE_SR, COMPREHENSIVE_3D_SR, EXTENSIBLE_SR})
DOSE_SR_CLASSES = frozenset({XRAY_DOSE_SR, RADIOPHARMACEUTICAL_DOSE_SR, PATIENT_DOSE_SR, ENHANCED_XRAY_DOSE_SR})

TID_TEXT_REPORTS = frozenset({"2000", "2005", "2006"})
TID_MEASUREMENT_REPORT = "1500"
TID_DOSE = frozenset({"10001", "10011", "10021", "10030", "10040"})
# CID 7021 Measurement Report Document Titles (DCM): a root titled so is TID 1500 without its template id
MEASUREMENT_REPORT_TITLES = frozenset({"126000", "126001", "126002", "126003"})
DOSE_REPORT_TITLES = frozenset({"113701", "113500", "128401"})


def classify(ds: Dataset) -> ObjectKind:
    """The ObjectKind of a dataset; unknown SR content falls back to a generic text report if it has headings."""
    sop_class = text(ds, "SOPClassUID") or ""
    if sop_class == KEY_OBJECT_SELECTION:
        return ObjectKind.KEY_OBJECTS
    if sop_class == ENCAPSULATED_PDF:
        return ObjectKind.ENCAPSULATED_PDF
    if sop_class == ENCAPSULATED_CDA:
        return ObjectKind.ENCAPSULATED_CDA
    if sop_class in DOSE_SR_CLASSES:
        return ObjectKind.SR_DOSE
    if sop_class in REPORT_SR_CLASSES:
        return _classify_sr(ds)
    if text(ds, "Modality") == "SR" or "ContentSequence" in ds:
        return ObjectKind.SR_OTHER
    return ObjectKind.IMAGE if "Rows" in ds else ObjectKind.OTHER


def _classify_sr(ds: Dataset) -> ObjectKind:
    template = template_id(ds)
    if template in TID_TEXT_REPORTS:
        return ObjectKind.SR_TEXT_REPORT
    if template == TID_MEASUREMENT_REPORT:
        return ObjectKind.SR_MEASUREMENT
    if template in TID_DOSE:
        return ObjectKind.SR_DOSE
    root = ds.get("ConceptNameCodeSequence")
    root_code = text(root[0], "CodeValue") if root else None
    if root_code in MEASUREMENT_REPORT_TITLES:
        return ObjectKind.SR_MEASUREMENT
    if root_code in DOSE_REPORT_TITLES:
        return ObjectKind.SR_DOSE
    if any(text(item, "ValueType") in ("CONTAINER", "TEXT") for item in ds.get("ContentSequence") or ()):
        return ObjectKind.SR_TEXT_REPORT  # untemplated text report: headings or text at the top level
    return ObjectKind.SR_OTHER
