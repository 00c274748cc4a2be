"""Small valid DICOM datasets built in code, for unit tests."""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Callable
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

_counter = itertools.count(1)
UID_ROOT = "1.2.826.0.1.3680043.10.1495.9."


def next_uids(n: int) -> list[str]:
    return [generate_uid(UID_ROOT, entropy_srcs=["factories", str(next(_counter))]) for _ in range(n)]


def ct_dataset(**attrs: object) -> Dataset:
    """A small valid CT header; keyword=value overrides, keyword=None removes."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.Modality = CTImageStorage, "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = next_uids(3)
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Patient", "P-001", "19700101", "O"
    ds.StudyDate, ds.StudyTime, ds.SeriesNumber, ds.InstanceNumber = "20240102", "101112", 1, 1
    ds.AccessionNumber, ds.BodyPartExamined = "A-001", "CHEST"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 2, 2, 16, 16, 15
    ds.PixelRepresentation, ds.SamplesPerPixel, ds.PhotometricInterpretation = 0, 1, "MONOCHROME2"
    ds.PixelData = b"\x00\x01" * 4
    for keyword, value in attrs.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def write_dataset(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a Part 10 file (Explicit VR Little Endian) at ``path``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", CTImageStorage)
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", generate_uid())
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_with_charset(ds: Dataset, path: Path, charset: str) -> Path:
    """Write ``ds`` declaring Specific Character Set ``charset`` (which pydicom may not know) as is."""
    assert len(charset) == len("ISO_IR 192"), "the declared term replaces the bytes of 'ISO_IR 192' in place"
    ds.SpecificCharacterSet = "ISO_IR 192"
    write_dataset(ds, path)
    path.write_bytes(path.read_bytes().replace(b"ISO_IR 192", charset.encode("ascii"), 1))
    return path


def part10_bytes(transfer_syntax: str, data_set: bytes, sop_instance_uid: str = "2.25.1") -> bytes:
    """Preamble, 'DICM' and File Meta Information (CT Image Storage) followed by ``data_set`` as given."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax
    buffer = io.BytesIO()
    buffer.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(buffer, meta)
    return buffer.getvalue() + data_set


def sample_straggler(sample: Path, folder: Path, sop_instance_uid: str, instance_number: int) -> Path:
    """A copy of the sample study's first CT image under a new SOP Instance UID: an instance that arrives late."""
    from pydicom import dcmread

    ds = dcmread(sample / "ct-chest" / "series-1" / "IM0001.dcm")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    ds.InstanceNumber = instance_number
    path = folder / f"straggler-{instance_number}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
