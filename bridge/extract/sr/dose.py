"""(being written)"""

from __future__ import annotations

from pydicom.dataset import Dataset

from bridge.extract.sr.general import base_report
from bridge.extract.sr.tree import walk
from bridge.model import Report


def extract_dose_report(ds: Dataset, source: str) -> Report:
    return base_report(ds, source, "sr-dose", walk(ds, source))
