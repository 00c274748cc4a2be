"""(being written)"""

from __future__ import annotations

from pydicom.dataset import Dataset

from bridge.extract.classify import ENCAPSULATED_CDA
from bridge.extract.sr.general import base_report
from bridge.extract.values import text
from bridge.model import Report


def extract_document(ds: Dataset, source: str) -> Report:
    kind = "encapsulated-cda" if text(ds, "SOPClassUID") == ENCAPSULATED_CDA else "encapsulated-pdf"
    return base_report(ds, source, kind, None)
