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

`spawn_measured` / `stop_measured` do the same for a long-running receiver (a DICOM listener, a service):
started under the wrapper, stopped with SIGTERM, and what the wrapper measured over its whole life read
back. The helpers after them (ports, C-ECHO, /proc CPU, the private network namespace, receiver configs)
are shared by the receiver benchmarks (listen_bench.py, latency_bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from measure import online_cpus, process_tree

__all__ = [
    "DCMTK_ENV",
    "ProcResult",
    "Spread",
    "Stopped",
    "bridge_config_toml",
    "cpu_seconds",
    "echo_ok",
    "enter_namespace",
    "first_line",
    "fmt_num",
    "fmt_ratio",
    "free_ports",
    "group_members",
    "http_json",
    "last_message",
    "markdown_table",
    "online_cpus",
    "run_measured",
    "spawn_measured",
    "stop_measured",
    "tail",
    "tree_cpu_seconds",
    "warm_page_cache",
    "write_orthanc_config",
]

MEASURE = Path(__file__).resolve().parent / "measure.py"
_BOX_CHARS = "│╭╮╰╯─┃┏┓┗┛━ \t"


# --------------------------------------------------------------------------- running a child

# Where the benches live and what they run: the project's venv and the bridge installed in it.
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
REPO_PYTHON = REPO / ".venv" / "bin" / "python"
BRIDGE_CLI = REPO / ".venv" / "bin" / "dicom-bridge"


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


# --------------------------------------------------------------------------- long-running receivers

DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}  # without it DCMTK associations crawl (Nagle + delayed ACK)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def spawn_measured(
    argv: Sequence[str | Path],
    measured: Path,
    *,
    stdout: int | IO[bytes],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start argv under bench/measure.py (in a session of its own, stderr to stdout) and return the wrapper's
    Popen and the command's PID (0 if the wrapper had no child within 10 s). The wrapper writes what it
    measured over the command's whole life to `measured` when the command exits (see `stop_measured`)."""
    wrapper = subprocess.Popen(
        [sys.executable, "-I", "-S", str(MEASURE), str(measured), "--", *(str(a) for a in argv)],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    pid = 0
    deadline = time.monotonic() + 10
    while not pid and time.monotonic() < deadline and wrapper.poll() is None:
        children = process_tree(wrapper.pid)[1:]
        pid = children[0] if children else 0
        if not pid:
            time.sleep(0.01)
    return wrapper, pid


@dataclass(frozen=True)
class Stopped:
    """What `stop_measured` saw: how the receiver stopped, and what the wrapper measured over its life."""

    killed: bool  # did not exit within the timeout of SIGTERM: the process group was killed
    stop_s: float  # SIGTERM → wrapper reaped
    leftover: list[str]  # command name of each process of the group still alive after the receiver exited
    returncode: int | None  # the receiver's exit code as the wrapper saw it (None: no measurement)
    maxrss_mb: float  # ru_maxrss of the receiver process (exact, whole life)
    tree_rss_mb: float  # sampled peak of the tree's summed RSS (whole life)
    tree_pss_mb: float  # sampled peak of the tree's summed PSS
    procs: int  # most processes seen at once in the tree


def stop_measured(wrapper: subprocess.Popen[bytes], pid: int, measured: Path, timeout_s: float) -> Stopped:
    """SIGTERM the command started by `spawn_measured`, wait up to timeout_s for it (then SIGKILL its process
    group), kill whatever of the group is left, and read back what the wrapper measured."""
    t0 = time.monotonic()
    killed = False
    if pid and wrapper.poll() is None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        wrapper.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.wait()
        killed = True
    stop_s = time.monotonic() - t0
    left = group_members(wrapper.pid)
    if left:
        try:
            os.killpg(wrapper.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        m = json.loads(measured.read_text())
    except (OSError, ValueError):
        m = {}
    return Stopped(
        killed=killed,
        stop_s=stop_s,
        leftover=sorted(name for _pid, name in left),
        returncode=m.get("returncode"),
        maxrss_mb=m.get("maxrss_kb", 0) / 1024,
        tree_rss_mb=m.get("tree_peak_rss_kb", 0) / 1024,
        tree_pss_mb=m.get("tree_peak_pss_kb", 0) / 1024,
        procs=m.get("tree_max_procs", 0),
    )


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # fields from 3 (state) on


def cpu_seconds(pid: int, with_children: bool = True) -> float:
    """utime+stime of pid (and of its reaped children when with_children)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    return sum(cpu_seconds(pid) for pid in process_tree(root))


def group_members(pgid: int) -> list[tuple[int, str]]:
    """Live (non-zombie) processes of a process group: (pid, command name)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        comm = text[text.find("(") + 1 : text.rfind(")")]
        fields = text.rpartition(")")[2].split()
        if int(fields[2]) == pgid and fields[0] != "Z":  # field 5: pgrp
            found.append((int(entry.name), comm))
    return found


def echo_ok(aet: str, port: int) -> bool:
    """A DCMTK C-ECHO to 127.0.0.1:port succeeds."""
    try:
        proc = subprocess.run(
            ["echoscu", "-aec", aet, "-to", "5", "127.0.0.1", str(port)],
            env=DCMTK_ENV,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def http_json(url: str, timeout: float = 5.0, data: bytes | None = None) -> object:
    """GET url (POST data when given) and parse the JSON answer."""
    with urllib.request.urlopen(url, data=data, timeout=timeout) as response:  # noqa: S310 (loopback only)
        return json.loads(response.read())


def tail(path: Path, lines: int = 20) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def first_line(argv: Sequence[str | Path]) -> str | None:
    """The first non-empty line a command prints (a version banner), or None."""
    try:
        proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return lines[0] if lines else None


def warm_page_cache(paths: Sequence[Path]) -> None:
    """sync, then read every file once, so that senders read from memory."""
    os.sync()
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


def write_orthanc_config(run_dir: Path, ports: dict[str, int], aet: str, name: str, **extra: object) -> Path:
    """Orthanc's configuration for a bench run (storage and index under run_dir, loopback only, otherwise its
    defaults; `extra` adds or overrides keys, e.g. StableAge=2); returns its path."""
    config = {
        "Name": name,
        "StorageDirectory": str(run_dir / "storage"),
        "IndexDirectory": str(run_dir / "index"),
        "HttpPort": ports["http"],
        "DicomPort": ports["dicom"],
        "DicomAet": aet,
        "RemoteAccessAllowed": False,
        **extra,
    }
    path = run_dir / "orthanc.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def machine_facts(cpus: int, **extra: object) -> dict[str, object]:
    """What a bench report says of the machine it ran on (plus ``extra``, e.g. the network it used)."""
    return {
        "cpus": cpus,
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        **extra,
    }


def bridge_config_toml(run_dir: Path, aet: str, port: int, quiet_period: float) -> str:
    """The `dicom-bridge serve` settings every receiver bench uses: data and output under run_dir, the listener
    on 127.0.0.1:port, the quiet period. Benches append their own sections."""
    return (
        "[service]\n"
        f'data_dir = "{run_dir / "data"}"\n'
        f'output_dir = "{run_dir / "out"}"\n'
        "[listener]\n"
        f'ae_title = "{aet}"\n'
        'bind_address = "127.0.0.1"\n'
        f"port = {port}\n"
        "[grouping]\n"
        f"quiet_period = {quiet_period}\n"
    )


# --------------------------------------------------------------------------- network namespace


def enter_namespace(args: argparse.Namespace, argv: Sequence[str], script: Path, log: Callable[[str], None]) -> str:
    """Re-exec the driver `script` in a private network namespace (only `lo`), or say why the run stays on the
    host. `args` needs `in_netns` (set by the re-exec through `--in-netns`) and `no_netns`.

    storescp and Orthanc cannot bind to 127.0.0.1 alone; in a namespace of its own nothing they open is
    reachable from outside. Returns a description of the network for the report."""
    if args.in_netns:
        proc = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"cannot bring lo up in the network namespace: {proc.stderr.strip()}")
        return "in a private network namespace (`unshare --net`, only lo up)"
    if args.no_netns:
        return "on the host's loopback (--no-netns: storescp and Orthanc listen on all interfaces)"
    try:
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True, timeout=30)
        why = probe.stderr.strip() or f"rc={probe.returncode}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        probe, why = None, str(exc)
    if probe is not None and probe.returncode == 0:
        log("re-running in a private network namespace (unshare --net)")
        sys.stdout.flush()
        os.execvp("unshare", ["unshare", "--net", "--", sys.executable, str(script), *argv, "--in-netns"])
    log(f"unshare --net failed ({why}); running on the host's loopback")
    return f"on the host's loopback (unshare --net failed: {why}; storescp and Orthanc listen on all interfaces)"
