"""Run the fuzz target (tests/fuzz/fuzz_read.py) for a while with a fixed seed; exit 1 on any crash or hang.

    python tests/fuzz/run.py                      # 60 s, seed 1
    python tests/fuzz/run.py --runs 8000          # what CI runs: a fixed number of inputs, the same ones every time
    python tests/fuzz/run.py --seconds 900 --seed 7   # exploring: a time limit reaches further on a faster machine
    python tests/fuzz/run.py --keep DIR           # keep the corpus libFuzzer grew (DIR/corpus) for the next run

Seeds and the token dictionary are written to a temporary folder at start (tests/fuzz/seeds.py). A crashing or
hanging input is written to the artifacts folder (kept, printed) and its traceback is in the output above it;
replay it with ``python tests/fuzz/fuzz_read.py <path>``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from seeds import write_dictionary, write_seeds  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="-max_total_time (default 60)")
    parser.add_argument("--runs", type=int, help="-runs: stop after this many inputs instead of --seconds; with the "
                        "fixed seed and seeds the inputs are the same on every machine (a reproducible CI run)")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's -seed (default 1)")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take (default 10)")
    parser.add_argument("--max-len", type=int, default=16384, help="largest input (default 16384 bytes)")
    parser.add_argument("--rss-limit-mb", type=int, default=2048, help="memory limit (default 2048 MB)")
    parser.add_argument("--keep", type=Path, help="folder for the corpus and artifacts, kept (default: temporary)")
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="bridge-fuzz-run-"))
    corpus, seeds, artifacts = work / "corpus", work / "seeds", work / "artifacts"
    for folder in (corpus, artifacts):
        folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the broken seeds it is asked to write
        write_seeds(seeds)
    dictionary = write_dictionary(work / "dicom.dict")
    limit = f"-runs={args.runs}" if args.runs else f"-max_total_time={args.seconds}"
    command = [sys.executable, str(HERE / "fuzz_read.py"), limit, f"-seed={args.seed}",
               f"-timeout={args.timeout}", f"-max_len={args.max_len}", f"-rss_limit_mb={args.rss_limit_mb}",
               f"-dict={dictionary}", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
               str(corpus), str(seeds)]
    print("+", " ".join(command), flush=True)
    scratch = tempfile.mkdtemp(prefix="bridge-fuzz-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None)
    try:  # where each input is written for the entry points to read: in memory where there is a tmpfs
        returncode = subprocess.run(command, check=False, env={**os.environ, "BRIDGE_FUZZ_DIR": scratch}).returncode
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    found = sorted(p for p in artifacts.iterdir() if p.is_file())
    for path in found:
        print(f"FUZZ FINDING: {path} ({path.stat().st_size} bytes); replay: {sys.executable} "
              f"{HERE / 'fuzz_read.py'} {path}")
    if returncode == 0 and not found:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
        print(f"fuzz: no crash in {f'{args.runs} inputs' if args.runs else f'{args.seconds} s'} (seed {args.seed})")
        return 0
    print(f"fuzz: libFuzzer exited {returncode}; {len(found)} finding(s) kept in {artifacts}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
