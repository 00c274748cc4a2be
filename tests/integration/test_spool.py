"""The spool's durable commit and its content-derived names; the quarantine; the C-STORE data set check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from bridge.errors import StoreError
from bridge.ingest.quarantine import Quarantine, safe_file_name
from bridge.ingest.scp import check_data_set_start
from bridge.ingest.spool import Spool
from bridge.model.common import uid_problem
from tests.factories import part10_bytes


def temporary(spool: Spool, data: bytes) -> Path:
    fd, path = spool.new_temporary()
    with open(fd, "wb") as fp:
        fp.write(data)
    return path


def test_commit_names_the_file_by_its_digest_and_consumes_the_temporary(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.prepare() == 0
    tmp = temporary(spool, b"abc")
    spooled = spool.commit(tmp)
    digest = hashlib.sha256(b"abc").hexdigest()
    assert (spooled.digest, spooled.size) == (digest, 3)
    assert spooled.path == tmp_path / "spool" / digest[:2] / f"{digest}.dcm"
    assert spooled.path.read_bytes() == b"abc"
    assert not tmp.exists()
    assert spool.owns(spooled.path)
    assert list(spool.files()) == [spooled.path]


def test_identical_bytes_land_on_the_same_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.prepare()
    first = spool.commit(temporary(spool, b"same"))
    second = spool.commit(temporary(spool, b"same"))
    assert first.path == second.path
    assert list(spool.files()) == [first.path]


def test_prepare_removes_leftovers_of_an_interrupted_run(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.prepare()
    temporary(spool, b"half")
    temporary(spool, b"written")
    assert Spool(tmp_path).prepare() == 2
    assert list((tmp_path / "tmp").iterdir()) == []


def test_failed_commit_leaves_nothing_and_raises_store_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.prepare()
    digest = hashlib.sha256(b"x").hexdigest()
    fan_out = tmp_path / "spool" / digest[:2]
    fan_out.rmdir()
    fan_out.write_bytes(b"")  # a file where the folder should be: the rename must fail
    tmp = temporary(spool, b"x")
    with pytest.raises(StoreError, match="cannot make"):
        spool.commit(tmp)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_copy_in_leaves_the_source_untouched(tmp_path: Path) -> None:
    source = tmp_path / "inbox" / "a.dcm"
    source.parent.mkdir()
    source.write_bytes(b"payload")
    spool = Spool(tmp_path / "data")
    spool.prepare()
    spooled = spool.copy_in(source)
    assert source.read_bytes() == spooled.path.read_bytes() == b"payload"
    assert not spool.owns(source)


def test_quarantine_keeps_the_file_and_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "in" / "weird name?.dcm"
    bad.parent.mkdir()
    bad.write_bytes(b"junk")
    quarantine = Quarantine(tmp_path / "quarantine")
    moved = quarantine.put(bad, "not a DICOM file", "folder in")
    assert moved.parent == tmp_path / "quarantine"
    assert moved.name.endswith("weird_name_.dcm")
    assert moved.read_bytes() == b"junk"
    assert quarantine.entries() == [(moved, "not a DICOM file")]
    assert "source: folder in" in moved.with_name(moved.name + ".reason.txt").read_text()


@pytest.mark.parametrize(
    ("name", "safe"),
    [("IM0001.dcm", "IM0001.dcm"), ("../../etc/passwd", "_.._etc_passwd"), ("", "unnamed"), ("é" * 300, "_" * 100)],
)
def test_safe_file_name(name: str, safe: str) -> None:
    assert safe_file_name(name) == safe


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1.2.840.10008.5.1.4.1.1.2", None),
        ("1.2.03.4", None),  # leading zeros: tolerated
        ("1." * 40, "is 80 characters long (at most 64)"),
        ("../../x", "holds characters other than digits and dots"),
        ("1.2.", "holds characters other than digits and dots"),
        ("", "holds characters other than digits and dots"),
    ],
)
def test_uid_problem(value: str, problem: str | None) -> None:
    assert uid_problem(value) == problem


PATIENT_NAME_EXPLICIT = b"\x10\x00\x10\x00PN\x04\x00Doe^"
PATIENT_NAME_IMPLICIT = b"\x10\x00\x10\x00\x04\x00\x00\x00Doe^"
PATIENT_NAME_BIG = b"\x00\x10\x00\x10PN\x00\x04Doe^"


@pytest.mark.parametrize(
    ("transfer_syntax", "data_set", "problem"),
    [
        (ExplicitVRLittleEndian, PATIENT_NAME_EXPLICIT, None),
        (ImplicitVRLittleEndian, PATIENT_NAME_IMPLICIT, None),
        (ExplicitVRBigEndian, PATIENT_NAME_BIG, None),
        (DeflatedExplicitVRLittleEndian, b"\x01\x02", None),  # checked once inflated, by the worker
        (ExplicitVRLittleEndian, b"", "the C-STORE request carries an empty data set"),
        (ExplicitVRLittleEndian, b"\x10\x00", "the data set is shorter than one element"),
        (ExplicitVRLittleEndian, b"\xfe\xff\x00\xe0\x00\x00\x00\x00", "tag group FFFE"),
        (ExplicitVRLittleEndian, b"\x02\x00\x10\x00UI\x02\x001\x00", "tag group 0002"),
        (ExplicitVRLittleEndian, PATIENT_NAME_IMPLICIT, "not encoded as its transfer syntax"),
    ],
)
def test_check_data_set_start(tmp_path: Path, transfer_syntax: str, data_set: bytes, problem: str | None) -> None:
    path = tmp_path / "rx.dcm"
    path.write_bytes(part10_bytes(transfer_syntax, data_set))
    found = check_data_set_start(path)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
