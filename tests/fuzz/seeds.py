"""Seed inputs and a token dictionary for the fuzz target, written at run time (no copy of them is kept in the tree).

Seeds: one file of each kind in sample_dicom/ (CT image, TID 2000 report, TID 1500 measurements, dose SR, key object
selection, encapsulated PDF) and the small items of the bad-input corpus (tests/badinput.py) that reach the deeper
code: by-reference trees, sequences encoded as OB, undefined lengths, transfer syntax lies, a deflated data set, a
DICOMDIR.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = ("series-1/IM0001.dcm", "report/SR0001.dcm", "measurements/SR0001.dcm", "dose/SR0001.dcm",
           "key-images/KO0001.dcm", "pdf/DOC0001.dcm")
CORPUS_ITEMS = ("sr-cyclic-byref", "sr-dangling-byref", "sr-deep-100", "vr-sequence-as-OB", "vr-content-sequence-as-OB",
                "vr-series-uid-as-SQ", "length-undefined-UT", "length-undefined-implicit-PN", "length-past-end",
                "ts-says-explicit-data-implicit", "ts-says-implicit-data-explicit", "ts-says-big-endian-data-little",
                "deflate-valid", "dicomdir", "missing-SOPInstanceUID", "uid-leading-zeros", "truncated-at-03018")
# libFuzzer dictionary entries: the bytes a mutation is unlikely to find by itself
TOKENS = (
    b"DICM", b"\x02\x00\x10\x00UI", b"\x02\x00\x00\x00UL\x04\x00",
    b"\xfe\xff\x00\xe0", b"\xfe\xff\x0d\xe0", b"\xfe\xff\xdd\xe0", b"\xff\xff\xff\xff", b"\xf0\xff\xff\xff",
    b"SQ\x00\x00", b"OB\x00\x00", b"UN\x00\x00", b"UT\x00\x00", b"UI", b"CS", b"LO", b"PN", b"DA", b"US", b"FD",
    b"1.2.840.10008.1.2", b"1.2.840.10008.1.2.1", b"1.2.840.10008.1.2.2", b"1.2.840.10008.1.2.1.99",
    b"1.2.840.10008.1.3.10", b"1.2.840.10008.5.1.4.1.1.88.22", b"1.2.840.10008.5.1.4.1.1.88.33",
    b"1.2.840.10008.5.1.4.1.1.88.59", b"1.2.840.10008.5.1.4.1.1.88.67", b"1.2.840.10008.5.1.4.1.1.104.1",
    b"\x40\x00\x30\xa7", b"\x40\x00\x40\xa0", b"\x40\x00\x10\xa0", b"\x40\x00\x73\xdb", b"\x40\x00\x43\xa0",
    b"\xe0\x7f\x10\x00", b"\x08\x00\x05\x00", b"\x08\x00\x16\x00", b"\x08\x00\x18\x00", b"\x20\x00\x0d\x00",
    b"\x20\x00\x0e\x00", b"CONTAINER", b"CONTAINS", b"INFERRED FROM", b"TEXT", b"CODE", b"NUM", b"IMAGE",
    b"ISO_IR 192", b"ISO_IR 100", b"ISO 2022 IR 87", b"\x1b$B",
)


def write_seeds(folder: Path) -> list[Path]:
    """Write the seed files into ``folder``; returns their paths."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.badinput import corpus

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sample in SAMPLES:
        target = folder / f"sample-{sample.replace('/', '-')}"
        target.write_bytes((REPO / "sample_dicom" / "ct-chest" / sample).read_bytes())
        written.append(target)
    items = {item.name: item for item in corpus("fuzz-seeds")}
    for name in CORPUS_ITEMS:
        target = folder / f"badinput-{name}.dcm"
        target.write_bytes(items[name].data)
        written.append(target)
    return written


def write_dictionary(path: Path) -> Path:
    """The libFuzzer dictionary (-dict=) of TOKENS."""
    lines = ['"' + "".join(f"\\x{byte:02x}" for byte in token) + '"\n' for token in TOKENS]
    path.write_text("".join(lines), encoding="ascii")
    return path
