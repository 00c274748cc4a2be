"""Coverage-guided fuzz target (atheris) over the parsing entry points the service runs on untrusted bytes.

Each input is written to a file (the entry points take paths, as the service has them) and given, in the service's
order, to:

- ``bridge.ingest.scp.check_data_set_start``: the listener's first look at a received data set (a reason or None);
- ``bridge.extract.read.read_identity``: what placement and the folder watch run first (bridge.service.work.identify);
- ``bridge.extract.read.read_header``: what a study build runs on each instance (bridge.api.read_outcome), the header
  and the report content: SR trees (TID 2000, TID 1500, dose), key object selections, encapsulated documents.

``InputError`` and its subclasses are the expected outcome of a bad file (it is refused with a reason). Any other
exception escaping is a finding: libFuzzer stops and writes the input as ``<artifact_prefix>crash-<sha1>``; an input
that takes longer than ``-timeout`` seconds is one too (``timeout-<sha1>``).

Run it with tests/fuzz/run.py (seeds, dictionary, time limit, fixed seed); directly::

    python tests/fuzz/fuzz_read.py [libFuzzer flags] CORPUS_DIR [SEED_DIR...]
    python tests/fuzz/fuzz_read.py path/to/crash-<sha1>          # replay one input, with its traceback
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

with atheris.instrument_imports(include=["bridge", "pydicom"]):
    from bridge.errors import InputError
    from bridge.extract.read import read_header, read_identity
    from bridge.ingest.scp import check_data_set_start

# run.py names a folder it removes afterwards: libFuzzer ends the process without Python's clean-up
_FOLDER = Path(os.environ.get("BRIDGE_FUZZ_DIR") or tempfile.mkdtemp(prefix="bridge-fuzz-"))
_INPUT = _FOLDER / "input.dcm"


def test_one_input(data: bytes) -> None:
    _INPUT.write_bytes(data)
    reason = check_data_set_start(_INPUT)
    if reason is not None and not isinstance(reason, str):
        raise TypeError(f"check_data_set_start returned {reason!r}")
    for read in (read_identity, read_header):
        try:
            read(_INPUT)
        except InputError:
            pass  # refused with a reason: what a bad file should get


def main() -> None:
    warnings.simplefilter("ignore")  # pydicom warns about most mutated values; read_header records its own
    logging.disable(logging.CRITICAL)  # the readers log what they skip
    sys.setrecursionlimit(1000)  # the service's default: a deep input must fail the same way here
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
