"""Read one DICOM file's header (never its pixels) and turn it into an InstanceHeader."""

from __future__ import annotations

import logging
import os
import struct
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from bridge.errors import CharacterSetError, NotAnInstanceError, NotDicomError, TruncatedError
from bridge.extract.header import extract_header, required_uids
from bridge.extract.values import CharsetFallbackWarning, text
from bridge.model import Finding, InstanceHeader, InstanceIdentity, Severity

log = logging.getLogger(__name__)

_UNDEFINED_LENGTH = 0xFFFFFFFF
_RAW_DATASET_STARTS = (b"\x02\x00", b"\x08\x00")  # little-endian group 0002 / 0008 tags
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR, PS3.10 7.2
# pydicom's words for text it could not decode (pydicom/charset.py); anything else it warns about is a finding.
_CHARSET_WARNINGS = ("Unknown encoding", "Failed to decode", "Incorrect value for Specific Character Set")


def read_header(path: str | os.PathLike[str]) -> InstanceHeader:
    """Read the header of the DICOM file at ``path`` and extract it.

    Pixel data is never read or decoded: the file is parsed up to Pixel Data, whose declared length is
    checked against the file size so that a truncated file is refused rather than half-used.

    Raises:
        NotDicomError, TruncatedError, MissingAttributeError, CharacterSetError: the file cannot be used.
    """
    source = str(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open(path, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size
            ds = _parse(fp, source)
            if _media_class(ds) == MEDIA_STORAGE_DIRECTORY:
                raise NotAnInstanceError(source, "DICOMDIR (media storage directory), not an instance")
            missing_pixels = _check_complete(ds, fp, size, source)
        header = extract_header(ds, source)
    findings = _warnings_to_findings(caught, source) + missing_pixels
    return header if not findings else _with_findings(header, findings)


_SERIES_INSTANCE_UID_TAG = 0x0020000E


def _after_identity(tag: int, vr: str | None, length: int) -> bool:
    """read_identity stops after Series Instance UID: the four UIDs it needs all come before."""
    return tag > _SERIES_INSTANCE_UID_TAG


def read_identity(path: str | os.PathLike[str]) -> InstanceIdentity:
    """The SOP Class, SOP Instance, Study and Series UIDs of the DICOM file at ``path``.

    Cheaper than read_header; used to place an instance in its study as soon as it arrives.

    Raises:
        NotDicomError, TruncatedError, NotAnInstanceError, MissingAttributeError: the file cannot be used.
    """
    source = str(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # read_header turns them into findings when the study is built
        with open(path, "rb") as fp:
            ds = _parse(fp, source, _after_identity)
        if _media_class(ds) == MEDIA_STORAGE_DIRECTORY:
            raise NotAnInstanceError(source, "DICOMDIR (media storage directory), not an instance")
        if not len(ds):
            raise NotDicomError(source, "the file holds a DICOM preamble but no data set")
        uids = required_uids(ds, source)
    return InstanceIdentity(
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
    )


def _parse(fp: BinaryIO, source: str, stop_when: Callable[[int, str | None, int], bool] | None = None) -> Dataset:
    try:
        try:
            if stop_when is not None:
                return read_partial(fp, stop_when)
            return dcmread(fp, stop_before_pixels=True)
        except InvalidDicomError as exc:
            # Files written without the PS3.10 preamble (old media, some modalities) start straight with a
            # group 0002 or 0008 element; anything else is not DICOM and is not forced through the parser.
            fp.seek(0)
            if fp.read(2) not in _RAW_DATASET_STARTS:
                raise NotDicomError(source, "not a DICOM file: no 'DICM' prefix after the 128-byte preamble") from exc
            fp.seek(0)
            if stop_when is not None:
                return read_partial(fp, stop_when, force=True)
            return dcmread(fp, stop_before_pixels=True, force=True)
    except (EOFError, OSError, struct.error, ValueError, NotImplementedError) as exc:
        raise TruncatedError(source, f"the DICOM header cannot be parsed: {exc}") from exc


def _media_class(ds: Dataset) -> str | None:
    meta = getattr(ds, "file_meta", None)
    return text(meta, "MediaStorageSOPClassUID") if meta is not None else None


def _check_complete(ds: Dataset, fp: BinaryIO, size: int, source: str) -> tuple[Finding, ...]:
    """Refuse a file that ends inside an element it declares (header or Pixel Data).

    Returns a finding for an image whose file ends before Pixel Data: a header-only copy, or a file cut
    exactly at that element (the two cannot be told apart).
    """
    if not len(ds):
        raise NotDicomError(source, "the file holds a DICOM preamble but no data set")
    last = ds.get_item(next(reversed(ds.keys())))  # a data set read from a file keeps the file's tag order
    value_tell = getattr(last, "value_tell", None)
    length = getattr(last, "length", None)
    last_end = None
    if value_tell is not None and length is not None and length != _UNDEFINED_LENGTH:
        last_end = value_tell + length
        if last_end > size:
            message = f"the file ends inside element {last.tag} (needs {last_end} bytes, has {size})"
            raise TruncatedError(source, message)
    transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        return ()  # positions in a deflated stream are not file offsets
    position = fp.tell()
    if position < size:
        _check_pixel_data_length(ds, fp, position, size, source)
        return ()
    if last_end is not None and last_end < size:
        raise TruncatedError(source, f"the file ends inside the element header after {last.tag}")
    return _missing_pixel_data(ds, source)


def _missing_pixel_data(ds: Dataset, source: str) -> tuple[Finding, ...]:
    """A finding for a file of an image SOP class (PS3.6 '... Image Storage') that has no Pixel Data."""
    sop_class = text(ds, "SOPClassUID")
    if sop_class is None or "Image Storage" not in UID(sop_class).name:
        return ()
    message = "no Pixel Data (header-only or truncated file); the header is used"
    return (Finding(source, "PixelData", message, Severity.WARNING),)


def _check_pixel_data_length(ds: Dataset, fp: BinaryIO, position: int, size: int, source: str) -> None:
    fp.seek(position)
    head = fp.read(12)
    little = ds.original_encoding[1] if ds.original_encoding[1] is not None else True
    implicit = ds.original_encoding[0] if ds.original_encoding[0] is not None else False
    endian = "<" if little else ">"
    if len(head) < 8:
        raise TruncatedError(source, "the file ends inside the Pixel Data element header", "PixelData")
    if implicit:
        (length,) = struct.unpack(endian + "L", head[4:8])
        header_length = 8
    else:
        if len(head) < 12:
            raise TruncatedError(source, "the file ends inside the Pixel Data element header", "PixelData")
        (length,) = struct.unpack(endian + "L", head[8:12])
        header_length = 12
    if length != _UNDEFINED_LENGTH and position + header_length + length > size:
        raise TruncatedError(
            source,
            f"Pixel Data declares {length} bytes but the file holds {size - position - header_length}",
            "PixelData",
        )


def _warnings_to_findings(caught: list[warnings.WarningMessage], source: str) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    for warning in caught:
        message = str(warning.message)
        if isinstance(warning.message, CharsetFallbackWarning):  # undeclared character set: decoded, text kept
            severity = Severity.INFO if warning.message.character_set == "ISO_IR 192" else Severity.WARNING
            findings.append(Finding(source, warning.message.keyword, message, severity))
            continue
        if any(marker in message for marker in _CHARSET_WARNINGS):
            raise CharacterSetError(source, f"text cannot be decoded: {message}", "SpecificCharacterSet")
        findings.append(Finding(source, "", f"pydicom: {message}", Severity.WARNING))
    return tuple(dict.fromkeys(findings))


def _with_findings(header: InstanceHeader, findings: tuple[Finding, ...]) -> InstanceHeader:
    return replace(header, findings=header.findings + findings)
