"""The File Meta Information the listener writes before a received data set is byte for byte pydicom's."""

from __future__ import annotations

import io
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.filewriter import write_file_meta_info
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom.dsutils import create_file_meta

from bridge.ingest.pynetdicom_tuning import file_meta_bytes

UIDS = st.text(alphabet="0123456789.", min_size=1, max_size=64)
VERSIONS = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\\"),
                   min_size=1, max_size=16)


def _pydicom(sop_class: str, sop_instance: str, syntax: str, implementation: str, version: str) -> bytes:
    """pydicom writes a UID it finds invalid, with a warning (the listener turns value validation off)."""
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = create_file_meta(sop_class_uid=sop_class, sop_instance_uid=sop_instance,  # type: ignore[arg-type]
                                transfer_syntax=syntax, implementation_uid=implementation,  # type: ignore[arg-type]
                                implementation_version=version)
        write_file_meta_info(out, meta)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(UIDS, UIDS, UIDS, UIDS, VERSIONS)
def test_plain_file_meta_is_encoded_as_pydicom_encodes_it(
    sop_class: str, sop_instance: str, syntax: str, implementation: str, version: str
) -> None:
    assert file_meta_bytes(sop_class, sop_instance, syntax, implementation, version) == _pydicom(
        sop_class, sop_instance, syntax, implementation, version)


def test_the_file_meta_of_a_ct_instance_reads_back() -> None:
    encoded = file_meta_bytes("1.2.840.10008.5.1.4.1.1.2", "2.25.12345", "1.2.840.10008.1.2.1",
                              PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION)
    assert encoded is not None
    meta = dcmread(io.BytesIO(b"\0" * 128 + b"DICM" + encoded + b"\x08\x00\x18\x00UI\x0a\x002.25.12345"))
    assert meta.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert meta.file_meta.MediaStorageSOPInstanceUID == "2.25.12345"
    assert meta.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert meta.file_meta.ImplementationVersionName == PYNETDICOM_IMPLEMENTATION_VERSION
    assert meta.file_meta.FileMetaInformationGroupLength == len(encoded) - 12
    assert meta.SOPInstanceUID == "2.25.12345"


@pytest.mark.parametrize(
    ("uids", "version", "why"),
    [
        (("", "2.25.1", "1.2.840.10008.1.2"), "V1", "an empty SOP Class UID (pydicom refuses it)"),
        (("1.2.3", "2.25.1 ", "1.2.840.10008.1.2"), "V1", "a UID with a space"),
        (("1.2.3", "2.25." + "1" * 61, "1.2.840.10008.1.2"), "V1", "a UID over 64 characters"),
        (("1.2.3", "2.25.1", "1.2.840.10008.1.2"), "V\\1", "a version name with a backslash"),
        (("1.2.3", "2.25.1", "1.2.840.10008.1.2"), "V" * 17, "a version name over 16 characters"),
    ],
)
def test_other_file_meta_is_left_to_pydicom(uids: tuple[str, str, str], version: str, why: str) -> None:
    assert file_meta_bytes(*uids, PYNETDICOM_IMPLEMENTATION_UID, version) is None, why
