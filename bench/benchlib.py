"""Shared helpers for the benchmarks: run a child process and measure it, summarise runs, print tables.

Standard library only, so a benchmark driver runs under any Python 3.11+.

`run_measured` runs the command under the wrapper bench/measure.py (see its docstring for why) and reads
back what it measured:
  * wall time: from the wrapper spawning the command to reaping it (the command's own start-up, e.g.
    Python's, included; the wrapper's start-up not);
  * CPU and peak RSS: the command's rusage from `os.wait4()` (utime + stime; `ru_maxrss`), plus the
    sampled peak of the summed PSS/RSS of the command's process tree (it may fork workers);
  * other load: CPU that the whole machine used during the run (/proc/stat, all cores) minus the command's
    and the wrapper's own, i.e. what unrelated processes used, in cores (divide by the CPU count for a
    percentage of all cores).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from measure import online_cpus

__all__ = [
    "ProcResult",
    "Spread",
    "fmt_num",
    "fmt_ratio",
    "last_message",
    "markdown_table",
    "online_cpus",
    "run_measured",
]

MEASURE = Path(__file__).resolve().parent / "measure.py"
_BOX_CHARS = "│╭╮╰╯─┃┏┓┗┛━ \t"


# --------------------------------------------------------------------------- running a child


@dataclass(frozen=True)
class ProcResult:
    argv: list[str]
    returncode: int
    timed_out: bool
    wall_s: float
    cpu_s: float
    maxrss_mb: float  # ru_maxrss: the largest single process of the command's tree
    tree_pss_mb: float  # peak of the tree's summed PSS, sampled every 50 ms
    tree_rss_mb: float  # peak of the tree's summed RSS (counts shared pages once per process)
    tree_procs: int  # most processes seen at once in the tree
    other_load_cores: float
    stdout: str
    stderr_tail: list[str]

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def failure_reason(self) -> str:
        if self.timed_out:
            return f"timed out after {self.wall_s:.0f} s"
        return f"rc={self.returncode}: {last_message(self.stderr_tail) or '(no stderr)'}"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("stdout")
        return data


def last_message(lines: Sequence[str]) -> str:
    """The last stderr line that says something (skips rich/typer box borders)."""
    for line in reversed(lines):
        text = line.strip(_BOX_CHARS)
        if any(ch.isalnum() for ch in text):
            return text
    return ""


def run_measured(
    argv: Sequence[str | Path],
    *,
    timeout_s: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stderr_lines: int = 30,
) -> ProcResult:
    """Run argv to completion under bench/measure.py and return what was measured. Never raises for a
    failing command: one that cannot be started gives returncode 127, like a shell."""
    argv = [str(a) for a in argv]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile(suffix=".json") as measured,
    ):
        wrapper = [sys.executable, "-I", "-S", str(MEASURE), measured.name, "--", *argv]
        proc = subprocess.Popen(
            wrapper,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)  # the wrapper leads the group; the command is in it
            proc.wait()
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode(errors="replace").splitlines()
        stdout = out.read().decode(errors="replace")
        try:
            m = json.loads(Path(measured.name).read_text())
        except ValueError:  # killed, or the wrapper itself failed
            m = {"returncode": proc.returncode, "wall_s": timeout_s if timed_out else 0.0}
    wall = m["wall_s"]
    busy, cpu, wrapper_cpu = m.get("busy_s", 0.0), m.get("cpu_s", 0.0), m.get("self_cpu_s", 0.0)
    return ProcResult(
        argv=argv,
        returncode=m["returncode"],
        timed_out=timed_out,
        wall_s=wall,
        cpu_s=cpu,
        maxrss_mb=m.get("maxrss_kb", 0) / 1024,
        tree_pss_mb=m.get("tree_peak_pss_kb", 0) / 1024,
        tree_rss_mb=m.get("tree_peak_rss_kb", 0) / 1024,
        tree_procs=m.get("tree_max_procs", 0),
        other_load_cores=max(0.0, busy - cpu - wrapper_cpu) / wall if wall > 0 else 0.0,
        stdout=stdout,
        stderr_tail=stderr[-stderr_lines:],
    )


# --------------------------------------------------------------------------- summaries and tables


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))


def fmt_num(value: float) -> str:
    """3 significant figures, no exponent: 843, 33.2, 4.78, 0.61."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.2g}"


def fmt_ratio(num: float | None, den: float | None) -> str:
    if not num or not den:
        return ""
    return f"{num / den:.2f}×"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
