"""(being written)"""

from __future__ import annotations

from pydicom.dataset import Dataset

from bridge.extract.sr.general import base_report
from bridge.extract.sr.tree import walk
from bridge.model import Report


def extract_key_objects(ds: Dataset, source: str) -> Report:
    return base_report(ds, source, "key-objects", walk(ds, source))
