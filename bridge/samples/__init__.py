"""Deterministic synthetic DICOM samples behind ``dicom-bridge samples DIR``: a CT chest study and its documents.

The study holds two CT series, a TID 2000 report, a TID 1500 measurement report, a CT dose SR (TID 10011), a key
image note (TID 2010) and an encapsulated PDF.

Every UID is ``2.25.`` + a name-based UUID (``uids.py``), every date and time is fixed, and the File Meta
Information names this project, so the files are byte-identical on every run and every machine.
"""

from bridge.samples.ct import ct_template_dataset, write_ct_study
from bridge.samples.sample_set import write_samples
from bridge.samples.uids import UID_ROOT, sample_uid

__all__ = ["UID_ROOT", "ct_template_dataset", "sample_uid", "write_ct_study", "write_samples"]
