"""The manifest's own sequence encoder (bridge.manifest.kos.encode_items) against pydicom: what pydicom reads
from the encoded bytes is the tree that was encoded, and pydicom writes that tree back to the same bytes."""

from __future__ import annotations

from io import BytesIO

import pydicom
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian

from bridge.manifest.kos import Item, _raw_sequence, coded

CONTENT_SEQUENCE = 0x0040A730

# Elements the manifest's content tree and evidence use, one per VR kind: short and long lengths, NUL (UI) and
# space padding, text in UTF-8.
STRING_ELEMENTS = {
    0x00080100: ("SH", st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=16)),
    0x00080104: ("LO", st.text(st.characters(categories=["L", "N"]), max_size=20)),
    0x00080119: ("UC", st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=17, max_size=40)),
    0x00081150: ("UI", st.from_regex(r"[1-9][0-9]{0,5}(\.(0|[1-9][0-9]{0,5})){1,8}", fullmatch=True)),
    0x00081190: ("UR", st.from_regex(r"https://[a-z]{1,12}\.example/[a-z0-9]{0,9}", fullmatch=True)),
    0x0040A040: ("CS", st.sampled_from(["CODE", "TEXT", "IMAGE", "CONTAINER", "NUM", ""])),
    0x0040A121: ("DA", st.sampled_from(["20240315", "19991231"])),
    0x0040A122: ("TM", st.sampled_from(["102400", "0930", "235959.123456"])),
    0x0040A160: ("UT", st.from_regex(r"([A-Za-zÀ-ÿ0-9]([A-Za-zÀ-ÿ0-9 ]{0,28}[A-Za-zÀ-ÿ0-9])?)?", fullmatch=True)),
    0x0040A30A: ("DS", st.sampled_from(["1", "20", "2000", "0.5"])),
}
SEQUENCE_TAGS = (0x00081199, 0x0040A043, 0x0040A730)


@st.composite
def items(draw: st.DrawFn, depth: int = 0) -> Item:
    item: Item = []
    for tag in draw(st.lists(st.sampled_from(sorted(STRING_ELEMENTS)), unique=True, max_size=5)):
        vr, values = STRING_ELEMENTS[tag]
        item.append((tag, vr, draw(values)))
    if depth < 3:
        for tag in draw(st.lists(st.sampled_from(SEQUENCE_TAGS), unique=True, max_size=2)):
            item.append((tag, "SQ", draw(st.lists(items(depth + 1), max_size=3))))
    return item


def as_dataset(item: Item) -> Dataset:
    ds = Dataset()
    for tag, vr, value in item:
        if vr == "SQ":
            ds.add_new(tag, vr, [as_dataset(child) for child in value])  # type: ignore[union-attr]
        else:
            ds.add_new(tag, vr, value)
    return ds


def pydicom_bytes(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    ds.SpecificCharacterSet = "ISO_IR 192"
    write_dataset(buffer, ds)
    return buffer.getvalue()


def same_tree(parsed: Dataset, item: Item) -> None:
    assert sorted(parsed.keys()) == sorted(tag for tag, _, _ in item)
    for tag, vr, value in item:
        element = parsed[tag]
        assert element.VR == vr
        if vr == "SQ":
            assert len(element.value) == len(value)  # type: ignore[arg-type]
            for child_ds, child in zip(element.value, value, strict=True):  # type: ignore[arg-type]
                same_tree(child_ds, child)  # type: ignore[arg-type]
        elif vr in ("UT", "UR"):  # pydicom keeps leading spaces and strips trailing ones of these
            assert element.value == value.rstrip()  # type: ignore[union-attr]
        else:
            assert (element.value or "") == value.strip()  # type: ignore[union-attr]


@settings(max_examples=150, deadline=None)
@given(st.lists(items(), min_size=1, max_size=4))
def test_pydicom_reads_the_encoded_tree_and_writes_it_back_to_the_same_bytes(tree: list[Item]) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds[CONTENT_SEQUENCE] = _raw_sequence(CONTENT_SEQUENCE, tree)
    ours = pydicom_bytes(ds)

    parsed = ds.ContentSequence  # pydicom parses the raw sequence on access
    assert len(parsed) == len(tree)
    for child_ds, child in zip(parsed, tree, strict=True):
        same_tree(child_ds, child)
    assert pydicom_bytes(ds) == ours  # now written by pydicom from the parsed datasets

    reference = Dataset()
    reference.ContentSequence = [as_dataset(child) for child in tree]
    assert pydicom_bytes(reference) == ours


def test_a_file_with_raw_sequences_round_trips_through_dcmread() -> None:
    tree = [coded("113609", "DCM", "Instance Number"), coded("urn:oid:1.2.3.4.5.6.7.8.9", "X", "long URN"),
            coded("A" * 20, "99LOCAL", "Ü" * 70)]
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPInstanceUID = "1.2.3"
    ds[0x0040A043] = _raw_sequence(0x0040A043, tree)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.59"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    back = pydicom.dcmread(BytesIO(buffer.getvalue()))
    codes = back.ConceptNameCodeSequence
    assert codes[0].CodeValue == "113609" and codes[0].CodeMeaning == "Instance Number"
    assert codes[1].URNCodeValue == "urn:oid:1.2.3.4.5.6.7.8.9" and "CodeValue" not in codes[1]
    assert codes[2].LongCodeValue == "A" * 20 and codes[2].CodeMeaning == "Ü" * 64  # cut to LO's 64 characters
