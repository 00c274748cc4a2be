"""Broken DICOM, made deterministically in code: the bad-input corpus that the service and the fuzz target are fed.

Every family is a function returning ``Item(name, data, expect)`` values:

- ``truncations``: the sample CT (sample_dicom/ct-chest/series-1/IM0001.dcm, 3,530 bytes) cut at every offset from the
  end of the 128-byte preamble through 1 KiB past the File Meta, then every 16th offset to Pixel Data, every offset of
  the Pixel Data element header and every 64th into its value (1,376 files with the defaults; 3,402 at every offset).
- ``wrong_vrs``: a UID declared US, a UID declared FD, a UID declared SQ, a sequence declared OB, an unknown VR code.
- ``bad_lengths``: a value length past the end of the file, 0xFFFFFFF0 on an element in the middle (before and after
  the UIDs), an undefined length on a non-sequence element (explicit UT, implicit PN).
- ``bad_uids``: SOP Instance / Study / SOP Class UID missing (each alone), empty UIDs, and malicious ones: 10,000
  characters (in the command and in the data set only), ``../../etc/passwd``, NUL bytes, non-ASCII, leading zeros,
  65 characters.
- ``bad_sr``: 5,000 levels of CONTAINER CONTAINS, 100 levels (past the tree walker's limit, within the parser's), a
  cyclic by-reference tree (an ancestor, itself, two containers referring to each other), a dangling reference.
- ``bad_encodings``: File Meta transfer syntax that does not match the data (three ways), a deflated transfer syntax
  whose deflate stream is garbage, a 0-byte file, 4 KiB of random bytes, a DICOMDIR.

``Expectation`` says what the bridge must do with an item taken from an inbox and with its data set sent over C-STORE.
It is derived from what is correct, not from what the bridge happens to do: a broken file is refused or quarantined
with a reason matching ``reason``; a file that is still usable (a tree with a bad reference, a header cut exactly at
an element boundary after its UIDs) is converted, with a finding matching ``finding``.

UIDs are derived from a ``salt`` and the item's name, so the same corpus can be sent over C-STORE and dropped into an
inbox of the same service without two items sharing a SOP Instance UID (which would replace one another).
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import struct
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from tests.factories import ct_dataset
from tests.sr_factory import heading, text, text_report

SAMPLE_CT = Path(__file__).resolve().parents[1] / "sample_dicom" / "ct-chest" / "series-1" / "IM0001.dcm"
PREAMBLE = 128
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_UNDEFINED = 0xFFFFFFFF
FINDINGS = ("59776-5", "LN", "Findings")


class Outcome(StrEnum):
    REFUSED = "refused"  # C-STORE answered with a failure status (0xA700, 0xA9xx, 0xC000-0xCFFF)
    QUARANTINED = "quarantined"  # taken (acknowledged), then moved to the quarantine with a reason
    CONVERTED = "converted"  # taken and used: the instance is part of its study's output


REJECTED = frozenset({Outcome.REFUSED, Outcome.QUARANTINED})  # either is correct for data only a parser can judge


class WireMessage(NamedTuple):
    """What goes on the wire for an item: the C-STORE command's UIDs and transfer syntax, and the data set bytes."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    data_set: bytes


@dataclass(frozen=True)
class Expectation:
    """What the bridge must do with an item. ``wire`` is None when nothing of the item can go on the wire (a file
    cut inside its preamble or File Meta: a C-STORE carries neither)."""

    inbox: frozenset[Outcome]
    wire: frozenset[Outcome] | None
    reason: str = ""  # regex (case-insensitive search) the refusal comment or quarantine reason must match
    finding: str = ""  # regex one finding of a converted instance must match
    message: WireMessage | None = None

    @property
    def wire_uid(self) -> str | None:
        return self.message.sop_instance_uid if self.message is not None else None


class Item(NamedTuple):
    name: str
    data: bytes  # the file as dropped into an inbox
    expect: Expectation


def _set(*outcomes: Outcome) -> frozenset[Outcome]:
    return frozenset(outcomes)


CONVERTED = _set(Outcome.CONVERTED)
QUARANTINED = _set(Outcome.QUARANTINED)
REFUSED = _set(Outcome.REFUSED)

# Reasons, by problem. The bridge's messages differ by the stage that notices; these name the problem, whichever.
TRUNCATED = (r"ends inside|ends before|truncat|cannot be parsed|no data set|shorter than one element|empty data set"
             r"|declares \d+ bytes but the file holds")
NOT_DICOM = r"not a DICOM file|no 'DICM'|no file meta|cannot be parsed|does not start with a data element"


# ----------------------------------------------------------------------------------------------- building blocks


def uid(salt: str, name: str, length: int | None = None) -> str:
    """A UID under 2.25 derived from ``salt`` and ``name``; exactly ``length`` characters when given."""
    digits = str(int.from_bytes(hashlib.sha256(f"{salt}/{name}".encode()).digest(), "big"))
    digits = ("1" + digits[1:]) if digits[0] == "0" else digits
    if length is None:
        return "2.25." + digits[:38]
    need = length - len("2.25.")
    while len(digits) < need:
        digits += digits
    return "2.25." + digits[:need]


def element(group: int, elem: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    """One explicit VR little endian element; ``length`` overrides the value's own (a lie, on purpose)."""
    size = len(value) if length is None else length
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, elem, vr, 0, size) + value
    return struct.pack("<HH2sH", group, elem, vr, size) + value


def implicit_element(group: int, elem: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHI", group, elem, len(value) if length is None else length) + value


def _padded(value: bytes, pad: bytes = b" ") -> bytes:
    return value + pad if len(value) % 2 else value


def file_meta_bytes(sop_class: str | None, sop_instance: str | None, transfer_syntax: str) -> bytes:
    """Preamble, 'DICM' and a File Meta group written byte by byte (so that any UID, even a hostile one, fits)."""
    body = element(0x0002, 0x0001, b"OB", b"\x00\x01")
    if sop_class is not None:
        body += element(0x0002, 0x0002, b"UI", _padded(sop_class.encode("utf-8", "surrogateescape"), b"\0"))
    if sop_instance is not None:
        value = _padded(sop_instance.encode("utf-8", "surrogateescape"), b"\0")
        body += element(0x0002, 0x0003, b"UI", value) if len(value) < 0x10000 else element(
            0x0002, 0x0003, b"UN", value)
    body += element(0x0002, 0x0010, b"UI", _padded(transfer_syntax.encode(), b"\0"))
    body += element(0x0002, 0x0012, b"UI", _padded(b"1.2.826.0.1.3680043.10.1495.99", b"\0"))
    return b"\0" * PREAMBLE + b"DICM" + element(0x0002, 0x0000, b"UL", struct.pack("<I", len(body))) + body


def part10(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> bytes:
    """``ds`` as a Part 10 file, File Meta from its own SOP Class and Instance UIDs."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID") or CTImageStorage
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID") or "2.25.1"
    meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def data_set_bytes(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> bytes:
    data = part10(ds, transfer_syntax)
    return data[meta_end(data):]


def meta_end(data: bytes) -> int:
    """Where the data set starts in a Part 10 file (after its File Meta group)."""
    (group_length,) = struct.unpack("<I", data[PREAMBLE + 4 + 8 : PREAMBLE + 4 + 12])
    return PREAMBLE + 4 + 12 + group_length


class Element(NamedTuple):
    tag: int
    vr: bytes
    start: int  # offset of the element's tag
    value: int  # offset of its value
    length: int

    @property
    def end(self) -> int:
        return self.value + self.length


def top_level(data: bytes, start: int) -> list[Element]:
    """The top-level elements of an explicit VR little endian data set with defined lengths, from ``start``."""
    found = []
    offset = start
    while offset < len(data):
        group, elem, vr = struct.unpack_from("<HH2s", data, offset)
        if vr in _LONG_VRS:
            (length,) = struct.unpack_from("<I", data, offset + 8)
            value = offset + 12
        else:
            (length,) = struct.unpack_from("<H", data, offset + 6)
            value = offset + 8
        assert length != _UNDEFINED, "the sample is written with defined lengths"
        found.append(Element(group << 16 | elem, vr, offset, value, length))
        offset = value + length
    return found


def _replace_element(data: bytes, tag: int, new: bytes | Callable[[Element, bytes], bytes]) -> bytes:
    """``data`` with the top-level element ``tag`` replaced by ``new`` (bytes, or made from the old element)."""
    for el in top_level(data, meta_end(data)):
        if el.tag == tag:
            replacement = new(el, data[el.value : el.end]) if callable(new) else new
            return data[: el.start] + replacement + data[el.end :]
    raise KeyError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) not in the data set")


def _insert_element(data: bytes, encoded: bytes) -> bytes:
    """``data`` with ``encoded`` inserted before the first top-level element of a higher tag."""
    group, elem = struct.unpack_from("<HH", encoded)
    tag = group << 16 | elem
    for el in top_level(data, meta_end(data)):
        if el.tag > tag:
            return data[: el.start] + encoded + data[el.start :]
    return data + encoded


def message_of(data: bytes) -> WireMessage:
    """The C-STORE an SCU would make of a Part 10 file: its File Meta UIDs in the command, the rest as data set."""
    end = meta_end(data)
    meta = {el.tag: data[el.value : el.end] for el in top_level(data[:end], PREAMBLE + 4)}

    def value(tag: int) -> str:
        return meta[tag].rstrip(b"\0 ").decode("utf-8", "surrogateescape")

    return WireMessage(value(0x00020002), value(0x00020003), value(0x00020010), data[end:])


def _ct(salt: str, name: str, study: str | None = None, **attrs: object) -> Dataset:
    """A small valid CT with UIDs derived from ``salt``/``name`` (the study's from ``study`` when given)."""
    ds = ct_dataset(**attrs)
    ds.StudyInstanceUID = uid(salt, f"{study or name}/study")
    ds.SeriesInstanceUID = uid(salt, f"{study or name}/series")
    ds.SOPInstanceUID = uid(salt, name)
    for keyword, value in attrs.items():  # explicit overrides win over the derived UIDs
        if value is not None:
            setattr(ds, keyword, value)
        elif keyword in ds:
            delattr(ds, keyword)
    return ds


def _usable(name: str, data: bytes, *, inbox: frozenset[Outcome] = CONVERTED, wire: frozenset[Outcome] = CONVERTED,
            reason: str = "", finding: str = "") -> Item:
    return Item(name, data, Expectation(inbox, wire, reason, finding, message_of(data)))


def _broken(name: str, data: bytes, reason: str, *, wire: frozenset[Outcome] | None = REJECTED,
            message: WireMessage | None = None) -> Item:
    if wire is not None and message is None:
        message = message_of(data)
    return Item(name, data, Expectation(QUARANTINED, wire, reason, "", message if wire is not None else None))


# ----------------------------------------------------------------------------------------------------- families


def _quiet(family: Callable[..., list[Item]]) -> Callable[..., list[Item]]:
    """pydicom warns about every invalid value it is given to write; here they are the point."""

    @functools.wraps(family)
    def quiet(*args: object, **kwargs: object) -> list[Item]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return family(*args, **kwargs)

    return quiet


def sample_ct(salt: str, name: str) -> bytes:
    """The sample CT with its SOP Instance UID (File Meta and data set) replaced by one of the same length."""
    data = SAMPLE_CT.read_bytes()
    old = message_of(data).sop_instance_uid.encode()
    new = uid(salt, name, len(old)).encode()
    assert data.count(old) == 2
    return data.replace(old, new)


def truncation_offsets(size: int, meta: int, pixel_start: int, dense: int = 1024, stride: int = 16,
                       pixel_stride: int = 64) -> list[int]:
    """Every offset from the preamble's end to ``dense`` bytes past the File Meta, every ``stride``-th to Pixel Data,
    every offset of the Pixel Data element header (12 bytes), every ``pixel_stride``-th in its value."""
    offsets = set(range(PREAMBLE, min(meta + dense, pixel_start)))
    offsets.update(range(meta + dense, pixel_start, stride))
    offsets.update(range(pixel_start, pixel_start + 12))
    offsets.update(range(pixel_start + 12, size, pixel_stride))
    return sorted(o for o in offsets if o < size)


@_quiet
def truncations(salt: str, dense: int = 1024, stride: int = 16, pixel_stride: int = 64) -> list[Item]:
    """The sample CT cut short. Cut inside the preamble or File Meta: quarantined, nothing to send over C-STORE.
    Cut exactly between two elements after Series Instance UID: a header-only copy, indistinguishable from one
    made on purpose, so converted with the 'no Pixel Data' finding. Cut between two elements before it: quarantined
    for the missing UID. Cut inside an element: quarantined (or refused) as truncated."""
    data = sample_ct(salt, "truncation")
    start = meta_end(data)
    elements = top_level(data, start)
    pixel = next(el for el in elements if el.tag == 0x7FE00010)
    boundaries = {el.start for el in elements}
    series_end = next(el.end for el in elements if el.tag == 0x0020000E)
    items = []
    for offset in truncation_offsets(len(data), start, pixel.start, dense, stride, pixel_stride):
        name = f"truncated-at-{offset:05d}"
        cut = sample_ct(salt, name)[:offset]
        if offset < PREAMBLE + 4:
            items.append(_broken(name, cut, NOT_DICOM, wire=None))
        elif offset < start:
            items.append(_broken(name, cut, TRUNCATED + "|" + NOT_DICOM, wire=None))
        elif offset == start:
            items.append(_broken(name, cut, TRUNCATED, wire=REFUSED))  # the C-STORE carries an empty data set
        elif offset in boundaries and offset >= series_end:
            items.append(_usable(name, cut, finding=r"no Pixel Data"))
        elif offset in boundaries:
            items.append(_broken(name, cut, r"Instance UID is missing"))
        else:
            # Before Series Instance UID the identity read may only see that a UID is missing: pydicom keeps no
            # file position for Specific Character Set, which it decodes at once, so a cut in or just after it
            # cannot be told from a data set that ends there.
            reason = TRUNCATED if offset >= series_end else TRUNCATED + r"|Instance UID is missing"
            wire = REFUSED if offset - start < 8 else REJECTED  # less than one element header: refused at once
            items.append(_broken(name, cut, reason, wire=wire))
    return items


@_quiet
def wrong_vrs(salt: str) -> list[Item]:
    """Elements whose VR is not theirs: the listener cannot tell, so over C-STORE they are taken, then judged."""
    items = []

    def with_vr(tag: int, vr: bytes) -> Callable[[Element, bytes], bytes]:
        return lambda el, value: element(tag >> 16, tag & 0xFFFF, vr, value)

    ct = part10(_ct(salt, "vr-sop-instance-uid-as-US"))
    items.append(_broken("vr-sop-instance-uid-as-US", _replace_element(ct, 0x00080018, with_vr(0x00080018, b"US")),
                         r"SOP Instance UID"))
    ct = part10(_ct(salt, "vr-study-uid-as-FD"))
    items.append(_broken("vr-study-uid-as-FD", _replace_element(ct, 0x0020000D, with_vr(0x0020000D, b"FD")),
                         r"Study Instance UID"))
    ct = part10(_ct(salt, "vr-series-uid-as-SQ"))
    items.append(_broken("vr-series-uid-as-SQ", _replace_element(ct, 0x0020000E, with_vr(0x0020000E, b"SQ")),
                         r"Series Instance UID|sequence|cannot be parsed"))
    ct = part10(_ct(salt, "vr-unknown-code"))
    items.append(_broken("vr-unknown-code", _replace_element(ct, 0x00080020, with_vr(0x00080020, b"ZZ")),
                         r"Value Representation|cannot be decoded"))
    # A sequence declared OB: the element is unusable, the header around it is fine. Issuer of Accession Number
    # is optional, so the image is converted without it; Content Sequence of an SR becomes a finding.
    ds = _ct(salt, "vr-sequence-as-OB")
    issuer = Dataset()
    issuer.LocalNamespaceEntityID = "RIS"
    ds.IssuerOfAccessionNumberSequence = DicomSequence([issuer])
    ct = part10(ds)
    items.append(_usable("vr-sequence-as-OB", _replace_element(ct, 0x00080051, with_vr(0x00080051, b"OB")),
                         finding=r"IssuerOfAccessionNumberSequence|Issuer of Accession|not a sequence"))
    sr = part10(_report(salt, "vr-content-sequence-as-OB", [heading(FINDINGS, text(FINDINGS, "Normal."))]))
    items.append(_usable("vr-content-sequence-as-OB", _replace_element(sr, 0x0040A730, with_vr(0x0040A730, b"OB")),
                         finding=r"Content Sequence"))
    return items


@_quiet
def bad_lengths(salt: str) -> list[Item]:
    """Value lengths that lie: past the end of the file, 0xFFFFFFF0 in the middle, undefined on a non-sequence."""
    items = []
    ct = part10(_ct(salt, "length-past-end", PixelData=None))
    last = top_level(ct, meta_end(ct))[-1]
    tail = element(0x0020, 0x4000, b"LT", b"comment ")  # Image Comments, the last element, claiming 64 KiB - 2
    cut = ct[: last.end] + tail[:6] + struct.pack("<H", 0xFFFE) + tail[8:]
    items.append(_broken("length-past-end", cut, TRUNCATED))
    ct = part10(_ct(salt, "length-past-end-UT", PixelData=None))
    items.append(_broken("length-past-end-UT", ct + element(0x0040, 0xA160, b"UT", b"some text ", 1 << 20),
                         TRUNCATED))
    for where, tag in (("before-uids", (0x0008, 0x0081)), ("after-uids", (0x0020, 0x4000))):
        name = f"length-huge-{where}"
        ct = part10(_ct(salt, name))
        huge = element(*tag, b"UT", b"x" * 16, 0xFFFFFFF0)
        items.append(_broken(name, _insert_element(ct, huge), TRUNCATED))
    name = "length-undefined-UT"
    ct = part10(_ct(salt, name))
    items.append(_broken(name, _insert_element(ct, element(0x0020, 0x4000, b"UT", b"text    ", _UNDEFINED)),
                         TRUNCATED + r"|undefined length|delimiter"))
    name = "length-undefined-implicit-PN"
    ds = _ct(salt, name)
    data = part10(ds, ImplicitVRLittleEndian)
    marker = implicit_element(0x0010, 0x0010, _padded(str(ds.PatientName).encode()))
    assert data.count(marker) == 1
    data = data.replace(marker, implicit_element(0x0010, 0x0010, b"Doe^Jane", _UNDEFINED))
    items.append(_broken(name, data, TRUNCATED + r"|undefined length|delimiter"))
    # A sequence of defined length whose item ends inside an element (pydicom parses it when it is first read): the
    # sequence is dropped with a finding, the rest of the instance is used.
    cut_item = struct.pack("<HHI", 0xFFFE, 0xE000, 10) + struct.pack("<HH2sH", 0x0008, 0x0016, b"OB", 0) + b"\1\2"
    ds = _ct(salt, "length-item-cut-in-sequence")
    issuer = Dataset()
    issuer.LocalNamespaceEntityID = "RIS"
    ds.IssuerOfAccessionNumberSequence = DicomSequence([issuer])
    ct = _replace_element(part10(ds), 0x00080051, element(0x0008, 0x0051, b"SQ", cut_item))
    items.append(_usable("length-item-cut-in-sequence", ct, finding=r"Issuer of Accession Number Sequence .* "
                                                                   r"cannot be parsed as a sequence"))
    sr = part10(_report(salt, "length-item-cut-in-template", [heading(FINDINGS, text(FINDINGS, "Normal."))]))
    sr = _replace_element(sr, 0x0040A504, element(0x0040, 0xA504, b"SQ", cut_item))
    items.append(_usable("length-item-cut-in-template", sr, finding=r"Content Template Sequence .* cannot be parsed"))
    return items


@_quiet
def bad_uids(salt: str) -> list[Item]:
    """Missing, empty and hostile UIDs. A SOP Instance or Class UID missing from the data set is taken from the File
    Meta (or, over C-STORE, the command that carries it), as the bridge documents; missing from both, quarantined.
    A hostile UID in a C-STORE command is refused at once; in the data set only, the instance is quarantined."""
    items = []
    for keyword, name in (("SOPInstanceUID", "SOP Instance UID"), ("SOPClassUID", "SOP Class UID")):
        for how in ("missing", "empty"):
            item_name = f"{how}-{keyword}"
            ds = _ct(salt, item_name)
            command = WireMessage(str(ds.SOPClassUID), str(ds.SOPInstanceUID), ExplicitVRLittleEndian, b"")
            if how == "missing":
                del ds[keyword]
            else:
                setattr(ds, keyword, "")
            body = data_set_bytes(ds)
            meta_keep = (None, ds.get("SOPInstanceUID") or None) if keyword == "SOPClassUID" else (CTImageStorage,
                                                                                                   None)
            data = file_meta_bytes(*meta_keep, ExplicitVRLittleEndian) + body
            items.append(Item(item_name, data, Expectation(QUARANTINED, CONVERTED, f"{name} is missing", "",
                                                           command._replace(data_set=body))))
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
        for how in ("missing", "empty"):
            item_name = f"{how}-{keyword}"
            ds = _ct(salt, item_name, **{keyword: None if how == "missing" else ""})
            readable = keyword.replace("InstanceUID", " Instance UID")
            items.append(_broken(item_name, part10(ds), f"{readable} is missing", wire=QUARANTINED))
    hostile = {
        "uid-10000-chars": "1." + "2" * 9998,
        "uid-path-traversal": "1.2.3/../../etc/passwd",
        "uid-nul-bytes": "1.2.3\0\0.4",
        "uid-non-ascii": "1.2.3.\u00e9.4",
        "uid-65-chars": "1." + "9" * 63,
    }
    for name, value in hostile.items():
        body = _with_sop_instance_uid(part10(_ct(salt, name)), value.encode("utf-8"))
        data = file_meta_bytes(CTImageStorage, value, ExplicitVRLittleEndian) + body
        message = WireMessage(CTImageStorage, value, ExplicitVRLittleEndian, body)
        items.append(Item(name, data, Expectation(QUARANTINED, REFUSED, r"SOP Instance UID", "", message)))
    # the same hostile UID in the data set only, under a valid File Meta and command: taken, then quarantined
    name = "uid-10000-chars-in-data-set"
    ds = _ct(salt, name)
    body = _with_sop_instance_uid(part10(ds), b"1." + b"2" * 9998)
    data = file_meta_bytes(CTImageStorage, str(ds.SOPInstanceUID), ExplicitVRLittleEndian) + body
    items.append(_broken(name, data, r"SOP Instance UID .*10000 characters", wire=QUARANTINED))
    ds = _ct(salt, "study-uid-path-traversal")
    ds.StudyInstanceUID = "1.2/../../escaped"  # from <output>/<study UID>/: beside the output folder
    items.append(_broken("study-uid-path-traversal", part10(ds), r"Study Instance UID", wire=QUARANTINED))
    # Leading zeros break PS3.5 9.1, but real files have them and they harm nothing: the bridge tolerates them.
    ds = _ct(salt, "uid-leading-zeros")
    ds.SOPInstanceUID = "1.2.0840.010008." + uid(salt, "uid-leading-zeros")[5:30]
    items.append(_usable("uid-leading-zeros", part10(ds)))
    return items


def _with_sop_instance_uid(data: bytes, value: bytes) -> bytes:
    """The data set of the Part 10 file ``data`` with SOP Instance UID's value replaced by ``value`` as it is (UN when
    it does not fit a 2-byte length)."""
    encoded = _padded(value, b"\0")
    vr = b"UI" if len(encoded) < 0x10000 else b"UN"
    replaced = _replace_element(data, 0x00080018, element(0x0008, 0x0018, vr, encoded))
    return replaced[meta_end(replaced):]


def _report(salt: str, name: str, headings: list[Dataset]) -> Dataset:
    """A TID 2000 Enhanced SR of its own study (UIDs from ``salt``/``name``) with ``headings`` as content."""
    image = _ct(salt, f"{name}/image", study=name)
    ds = text_report([image], headings)
    ds.SeriesInstanceUID = uid(salt, f"{name}/sr-series")
    ds.SOPInstanceUID = uid(salt, name)
    return ds


def _byref(target: list[int], relationship: str = "INFERRED FROM") -> Dataset:
    ds = Dataset()
    ds.RelationshipType = relationship
    ds.ReferencedContentItemIdentifier = target
    return ds


_LEVEL = (element(0x0040, 0xA010, b"CS", b"CONTAINS") + element(0x0040, 0xA040, b"CS", b"CONTAINER")
          + element(0x0040, 0xA050, b"CS", b"SEPARATE"))


def deep_content(depth: int, defined: bool = False) -> bytes:
    """Content Sequence (0040,A730) nesting ``depth`` CONTAINERs, written without recursion; undefined lengths
    with delimiters, or ``defined`` lengths (then pydicom parses it only when it is first read)."""
    if defined:
        lengths = [len(_LEVEL) + 8]  # the innermost sequence: one item holding one level
        for _ in range(depth - 1):
            lengths.append(8 + len(_LEVEL) + 12 + lengths[-1])
        parts = []
        for sequence_length in reversed(lengths):
            parts += [struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, sequence_length),
                      struct.pack("<HHI", 0xFFFE, 0xE000, sequence_length - 8), _LEVEL]
        return b"".join(parts)
    sequence = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, _UNDEFINED)
    item_start = struct.pack("<HHI", 0xFFFE, 0xE000, _UNDEFINED)
    item_end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    sequence_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return sequence + (item_start + _LEVEL + sequence) * (depth - 1) + item_start + _LEVEL + item_end + (
        sequence_end + item_end) * (depth - 1) + sequence_end


@_quiet
def bad_sr(salt: str) -> list[Item]:
    """SR trees no template allows. A by-reference item that cannot be followed is ignored with a finding: the report
    is still converted. A tree too deep to parse is quarantined; one deeper than the walker's limit is cut there."""
    items = []
    for depth, defined in ((5000, False), (5000, True), (100, False)):
        name = f"sr-deep-{depth}" + ("-defined-length" if defined else "")
        ds = _report(salt, name, [])
        del ds.ContentSequence
        data = part10(ds)
        assert top_level(data, meta_end(data))[-1].tag < 0x0040A730
        data += deep_content(depth, defined)
        if depth == 100:
            items.append(_usable(name, data, finding=r"deeper than"))
        elif defined:  # read lazily by the SR walker, which keeps the document and says what it could not read
            items.append(_usable(name, data, finding=r"Content Sequence cannot be read|deeper than"))
        else:  # undefined lengths are parsed with the header: the file cannot be read at all
            items.append(_broken(name, data, r"nest|deep|recursion", wire=QUARANTINED))
    findings = heading(FINDINGS, text(FINDINGS, "A nodule."), _byref([1]), _byref([1, 1, 3]))  # ancestor, itself
    left = heading(("121071", "DCM", "Finding"), _byref([1, 3]))  # 1.2 and 1.3 refer to each other
    right = heading(("121071", "DCM", "Finding"), _byref([1, 2]))
    ds = _report(salt, "sr-cyclic-byref", [findings, left, right])
    items.append(_usable("sr-cyclic-byref", part10(ds), finding=r"ancestor|itself|cycle"))
    ds = _report(salt, "sr-dangling-byref", [heading(FINDINGS, text(FINDINGS, "A nodule."), _byref([1, 9, 9]))])
    items.append(_usable("sr-dangling-byref", part10(ds), finding=r"does not exist"))
    return items


@_quiet
def bad_encodings(salt: str) -> list[Item]:
    """Transfer syntax lies, a broken deflate stream, nothing at all, noise, a DICOMDIR."""
    items = []
    # Implicit VR data under an explicit VR File Meta. Over C-STORE the listener sees the mismatch in the first
    # element and refuses; from an inbox the parser notices and reads it as implicit VR, with a finding.
    name = "ts-says-explicit-data-implicit"
    ds = _ct(salt, name)
    body = data_set_bytes(ds, ImplicitVRLittleEndian)
    data = file_meta_bytes(CTImageStorage, str(ds.SOPInstanceUID), ExplicitVRLittleEndian) + body
    message = WireMessage(CTImageStorage, str(ds.SOPInstanceUID), ExplicitVRLittleEndian, body)
    items.append(Item(name, data, Expectation(CONVERTED, REFUSED, r"not encoded as its transfer syntax",
                                              r"implicit VR", message)))
    name = "ts-says-implicit-data-explicit"
    ds = _ct(salt, name)
    body = data_set_bytes(ds, ExplicitVRLittleEndian)
    data = file_meta_bytes(CTImageStorage, str(ds.SOPInstanceUID), ImplicitVRLittleEndian) + body
    items.append(_usable(name, data, finding=r"explicit VR"))
    name = "ts-says-big-endian-data-little"
    ds = _ct(salt, name)
    body = data_set_bytes(ds, ExplicitVRLittleEndian)
    data = file_meta_bytes(CTImageStorage, str(ds.SOPInstanceUID), ExplicitVRBigEndian) + body
    items.append(_broken(name, data, TRUNCATED + r"|is missing|big endian"))
    name = "deflate-garbage"
    ds = _ct(salt, name)
    noise = random.Random(f"{salt}/{name}").randbytes(2048)
    data = file_meta_bytes(CTImageStorage, str(ds.SOPInstanceUID), DeflatedExplicitVRLittleEndian) + noise
    items.append(_broken(name, data, r"deflate|inflate|compressed"))
    empty = WireMessage(CTImageStorage, uid(salt, "empty-file"), ExplicitVRLittleEndian, b"")
    items.append(_broken("empty-file", b"", NOT_DICOM + r"|empty", wire=REFUSED, message=empty))
    noise = random.Random(f"{salt}/random-bytes").randbytes(4096)
    wire = WireMessage(CTImageStorage, uid(salt, "random-bytes"), ExplicitVRLittleEndian, noise)
    items.append(_broken("random-bytes", noise, NOT_DICOM + "|" + TRUNCATED + "|not encoded as its transfer syntax",
                         message=wire))
    items.append(_broken("dicomdir", dicomdir(salt), r"DICOMDIR"))
    # A control: a valid deflated data set that inflates to more than the file's size is not truncated.
    ds = _ct(salt, "deflate-valid", ImageComments="compressible " * 200)
    items.append(_usable("deflate-valid", part10(ds, DeflatedExplicitVRLittleEndian)))
    return items


def dicomdir(salt: str) -> bytes:
    """A minimal DICOMDIR (Media Storage Directory Storage) with one PATIENT record."""
    ds = Dataset()
    ds.FileSetID = "BADINPUT"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    record = Dataset()
    record.OffsetOfTheNextDirectoryRecord = 0
    record.RecordInUseFlag = 0xFFFF
    record.OffsetOfReferencedLowerLevelDirectoryEntity = 0
    record.DirectoryRecordType = "PATIENT"
    record.PatientID = "P-001"
    record.PatientName = "Test^Patient"
    ds.DirectoryRecordSequence = DicomSequence([record])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MEDIA_STORAGE_DIRECTORY
    meta.MediaStorageSOPInstanceUID = uid(salt, "dicomdir")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


FAMILIES: dict[str, Callable[[str], list[Item]]] = {
    "truncations": truncations,
    "wrong_vrs": wrong_vrs,
    "bad_lengths": bad_lengths,
    "bad_uids": bad_uids,
    "bad_sr": bad_sr,
    "bad_encodings": bad_encodings,
}


def corpus(salt: str = "badinput", **truncation: int) -> list[Item]:
    """Every family's items, in a fixed order; names are unique. ``truncation`` overrides truncations()' spacing."""
    items = [it for name, family in FAMILIES.items() for it in (family(salt, **truncation) if name == "truncations"
                                                                 else family(salt))]
    assert len({it.name for it in items}) == len(items)
    return items


def write(items: list[Item], folder: Path) -> Iterator[tuple[Item, Path]]:
    """Write each item as ``<folder>/<name>.dcm``."""
    folder.mkdir(parents=True, exist_ok=True)
    for it in items:
        path = folder / f"{it.name}.dcm"
        path.write_bytes(it.data)
        yield it, path


def wire_file(message: WireMessage, path: Path) -> Path:
    """A Part 10 file whose File Meta names the command's UIDs and whose data set is the message's bytes as they are:
    what a C-STORE SCU with chunked sending puts on the wire."""
    path.write_bytes(file_meta_bytes(message.sop_class_uid, message.sop_instance_uid, message.transfer_syntax)
                     + message.data_set)
    return path


__all__ = ["FAMILIES", "Expectation", "Item", "Outcome", "WireMessage", "corpus", "wire_file", "write"]
