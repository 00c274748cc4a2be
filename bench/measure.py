"""Run one command and measure it: the tiny wrapper every benchmarked child runs under.

    python -I -S bench/measure.py RESULT.json -- COMMAND [ARGS...]

Spawns COMMAND (stdin/stdout/stderr inherited), reaps it with `os.wait4()` and writes to RESULT.json:
returncode, wall_s (spawn → reaped), cpu_s (user + system of COMMAND and its reaped descendants),
maxrss_kb (`ru_maxrss`: the largest of COMMAND and its reaped descendants, each on its own), the peak of
the process tree's summed PSS and RSS (sampled, see below) and the machine-wide busy CPU seconds during
the run. Exits with COMMAND's exit code (127 if it cannot be started). Standard library only; nothing is
imported from the project, so `-I -S` keeps this process, and with it the floor under the child's
`ru_maxrss`, small.

Why a wrapper: on Linux a child's `ru_maxrss` is never below the high-water mark of the address space it
was exec'ed from. `subprocess` spawns through vfork, so a child of the benchmark driver directly would
inherit the *driver's lifetime peak* RSS (a driver that once parsed a 20 MB output would report every
later child at ≥ that). Spawned from this fresh, ~10 MB process instead, the floor is this process.
`os.wait4()` then gives that one child's rusage (`getrusage(RUSAGE_CHILDREN)` is a max over all reaped
children, so its deltas are 0 once any earlier child was bigger), the kernel's exact high-water mark
(psutil polling can miss a short peak between two samples and costs CPU while the child runs).

`ru_maxrss` is per process: for a command that forks workers (a process pool) it is the largest one, not
their total. So a thread also samples the whole tree every 50 ms (/proc/PID/task/*/children, then
/proc/PID/smaps_rollup) and keeps the peak of the summed PSS (pages shared between the processes are split
between them, so forked workers are not counted twice) and of the summed RSS (an upper bound). A sample
costs about 0.3 ms per process; that is this process's CPU, so it is not counted as other load.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_INTERVAL_S = 0.05


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (user+nice+system+irq+softirq+steal)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def online_cpus() -> int:
    with open("/proc/stat") as f:
        return sum(1 for line in f if line.startswith("cpu") and line[3].isdigit())


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_tree(root: int) -> list[int]:
    """root and all its descendants alive now."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                todo += (int(child) for child in task.read_text().split())
            except OSError:  # exited meanwhile
                pass
    return found


def pss_rss_kb(pid: int) -> tuple[int, int]:
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:  # exited meanwhile
        return 0, 0
    fields = dict(line.split(":", 1) for line in lines)
    return int(fields.get("Pss", "0 kB").split()[0]), int(fields.get("Rss", "0 kB").split()[0])


class TreeSampler(threading.Thread):
    """Peak summed PSS and RSS of a process tree, sampled until stop()."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_pss_kb = self.peak_rss_kb = self.max_procs = self.samples = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while True:
            pids = process_tree(self.root)
            sizes = [pss_rss_kb(pid) for pid in pids]
            self.peak_pss_kb = max(self.peak_pss_kb, sum(pss for pss, _ in sizes))
            self.peak_rss_kb = max(self.peak_rss_kb, sum(rss for _, rss in sizes))
            self.max_procs = max(self.max_procs, len(pids))
            self.samples += 1
            if self._stopping.wait(SAMPLE_INTERVAL_S):
                return

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def measure(argv: list[str]) -> dict[str, float | int]:
    result: dict[str, float | int] = {"returncode": 127, "wall_s": 0.0, "cpu_s": 0.0, "maxrss_kb": 0}
    busy0, self0, t0 = machine_busy_seconds(), self_cpu_seconds(), time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        print(f"{argv[0]}: {exc.strerror}", file=sys.stderr)
        return result
    sampler = TreeSampler(pid)
    sampler.start()
    _pid, status, usage = os.wait4(pid, 0)
    result["wall_s"] = time.perf_counter() - t0
    sampler.stop()
    result |= {
        "returncode": os.waitstatus_to_exitcode(status),
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,  # Linux: KiB
        "tree_peak_pss_kb": sampler.peak_pss_kb,
        "tree_peak_rss_kb": sampler.peak_rss_kb,
        "tree_max_procs": sampler.max_procs,
        "tree_samples": sampler.samples,
        "busy_s": machine_busy_seconds() - busy0,
        "self_cpu_s": self_cpu_seconds() - self0,
    }
    return result


def main(args: list[str]) -> int:
    if len(args) < 3 or args[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    result = measure(args[2:])
    with open(args[0], "w") as f:
        json.dump(result, f)
    code = int(result["returncode"])
    return code if 0 <= code < 256 else 128 - code  # -N (killed by signal N) → 128+N, like a shell


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
