#!/usr/bin/env python3
"""Ingest with concurrent associations: DCMTK `storescu` into the bridge, Orthanc and `storescp +B`, with one
association and with four at once (the same 2,000 small instances, split four ways), in the same run.

The bridge runs with its default settings, its listener in the service's own process (`listener.processes = 1`,
the default) and with one listener process per core on the same port (`listener.processes = 0`). Target: with
four associations the multi-process bridge receives at least 1.6× its single-association rate on 2 cores.
With default settings received instances wait while associations send (up to half the 30 s quiet period) and
are placed in their studies after the transfer; `bridge-mp-q2` shows the same bridge with listen_bench's 2 s
quiet period, which places them from 1 s into the transfer on, in the worker process beside the listeners.

Receivers, workloads, start/stop and verification are listen_bench.py's (one fresh receiver per run, durability
on, the transfer timed from the first storescu start to the last storescu exit).

    .venv/bin/python bench/ingest_bench.py [--quick] [--runs N] [--only NAME ...] [--associations 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))

import listen_bench as lb  # noqa: E402
from benchlib import fmt_num, fmt_ratio, markdown_table  # noqa: E402
from measure import online_cpus  # noqa: E402

RESULTS = lb.WORK / "ingest-results.json"
TARGET_SCALING = 1.6  # 4 associations ÷ 1 association, multi-process bridge, 2 cores


def _default_grouping(argv: list[str | Path]) -> list[str | Path]:
    """The config listen_bench writes, without its quiet period: the bridge's default applies."""
    config = Path(argv[-1])
    text = config.read_text()
    start = text.index("[grouping]\n")
    end = text.index("\n", text.index("quiet_period", start)) + 1
    config.write_text(text[:start] + text[end:])
    return argv


def _per_core(argv: list[str | Path]) -> list[str | Path]:
    config = Path(argv[-1])
    config.write_text(config.read_text().replace("[listener]\n", "[listener]\nprocesses = 0\n"))
    return argv


class BridgeDefault(lb.Bridge):
    """The bridge with its default grouping: while associations send, received instances wait up to half the
    quiet period (at most 10 s) before they are placed, so a transfer of a few seconds is received first."""

    name = "bridge"
    label = "dicom-bridge serve, default settings (listener in the service's process)"

    def argv(self, run_dir: Path, ports: dict[str, int]) -> list[str | Path]:
        return _default_grouping(super().argv(run_dir, ports))


class BridgePerCore(lb.Bridge):
    """The bridge with one listener process per core behind its port, default grouping."""

    name = "bridge-mp"
    label = "dicom-bridge serve, listener.processes = 0 (one listener process per core)"

    def argv(self, run_dir: Path, ports: dict[str, int]) -> list[str | Path]:
        return _default_grouping(_per_core(super().argv(run_dir, ports)))


class BridgePerCoreShortQuiet(lb.Bridge):
    """bridge-mp with listen_bench's 2 s quiet period: placing starts 1 s into the transfer, in the worker process
    (10 nice levels down), alongside the listeners."""

    name = "bridge-mp-q2"
    label = "the same, quiet period 2 s (instances placed during the transfer)"

    def argv(self, run_dir: Path, ports: dict[str, int]) -> list[str | Path]:
        return _per_core(super().argv(run_dir, ports))


RECEIVERS: dict[str, type[lb.Receiver]] = {
    "storescp": lb.Storescp, "orthanc": lb.Orthanc, "bridge": BridgeDefault, "bridge-mp": BridgePerCore,
    "bridge-mp-q2": BridgePerCoreShortQuiet,
}


@dataclass
class Transfer:
    receiver: str
    associations: int
    round: int
    n_sent: int
    wall_s: float = 0.0
    recv_cpu_s: float = 0.0
    problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.n_sent / self.wall_s if self.wall_s else 0.0


def split(files: list[Path], ways: int) -> list[list[Path]]:
    return [files[i::ways] for i in range(ways)]


def concurrent_run(receiver: lb.Receiver, workload: lb.Workload, ways: int, round_no: int,
                   timeout_s: float) -> Transfer:
    """A fresh receiver, `ways` storescu processes at once (one association each), verification, stop."""
    result = Transfer(receiver.name, ways, round_no, workload.n_files)
    inst = lb.start(receiver, f"ingest-{receiver.name}-{ways}x-r{round_no}")
    run = lb.Run(workload.name, round_no, workload.n_files)
    try:
        run.problem = lb.wait_ready(receiver, inst)
        if run.problem is None:
            port = inst.ports["dicom"]
            base = ["storescu", "-aec", receiver.aet, "-aet", "BENCH", "-xs", "127.0.0.1", str(port)]
            cpu0 = lb.tree_cpu_seconds(inst.pid)
            started = time.monotonic()
            senders = [subprocess.Popen([*base, *map(str, part)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, env=lb.ENV) for part in split(workload.files, ways)]
            failed = []
            for sender in senders:
                try:
                    _out, err = sender.communicate(timeout=max(1.0, timeout_s - (time.monotonic() - started)))
                except subprocess.TimeoutExpired:
                    sender.kill()
                    failed.append("storescu timed out")
                    continue
                if sender.returncode != 0:
                    failed.append(f"storescu rc={sender.returncode}: {lb.last_message(err.splitlines())}")
            result.wall_s = time.monotonic() - started
            result.recv_cpu_s = lb.tree_cpu_seconds(inst.pid) - cpu0
            if failed:
                run.problem = failed[0] + (f" (+{len(failed) - 1} more)" if len(failed) > 1 else "")
            else:
                run.problem, _details = receiver.verify(inst, workload)
    finally:
        lb.stop(receiver, inst, run)
    shutil.rmtree(inst.run_dir, ignore_errors=True)
    os.sync()
    result.problem = run.problem
    result.notes = run.notes
    return result


@dataclass
class Cell:
    receiver: str
    associations: int
    runs: list[Transfer]

    @property
    def ok(self) -> list[Transfer]:
        return [t for t in self.runs if t.problem is None]

    @property
    def rate(self) -> float | None:
        return median(t.rate for t in self.ok) if self.ok else None


def render(cells: dict[tuple[str, int], Cell], ways: int, workload: lb.Workload, n_cpus: int, runs: int,
           network: str) -> tuple[str, list[tuple[str, bool, str]]]:
    lines = [f"## Ingest: 1 association vs {ways} at once ({workload.describe()}; {n_cpus} CPUs; {runs} run(s) each; "
             f"{network})", ""]
    headers = ("receiver", "1 assoc inst/s", f"{ways} assoc inst/s", f"{ways} ÷ 1", "÷ orthanc (1)",
               f"÷ orthanc ({ways})", f"recv CPU s ({ways})", "ok/runs")
    rows = []
    receivers = sorted({r for r, _ in cells}, key=list(RECEIVERS).index)
    for name in receivers:
        one, many = cells.get((name, 1)), cells.get((name, ways))
        orthanc_one, orthanc_many = cells.get(("orthanc", 1)), cells.get(("orthanc", ways))
        cpu = median(t.recv_cpu_s for t in many.ok) if many and many.ok else None
        rows.append([
            f"{name}: {RECEIVERS[name].label}",
            fmt_num(one.rate) if one and one.rate else "FAILED",
            fmt_num(many.rate) if many and many.rate else "FAILED",
            fmt_ratio(many.rate if many else None, one.rate if one else None),
            fmt_ratio(one.rate if one else None, orthanc_one.rate if orthanc_one else None),
            fmt_ratio(many.rate if many else None, orthanc_many.rate if orthanc_many else None),
            fmt_num(cpu) if cpu is not None else "",
            f"{len(one.ok) if one else 0}+{len(many.ok) if many else 0}/"
            f"{len(one.runs) if one else 0}+{len(many.runs) if many else 0}",
        ])
    lines.append(markdown_table(headers, rows))
    problems = [f"- {t.receiver} ×{t.associations} r{t.round}: {t.problem}" for c in cells.values() for t in c.runs
                if t.problem]
    if problems:
        lines += ["", "Failed runs:", *problems]
    targets = []
    mp_one, mp_many = cells.get(("bridge-mp", 1)), cells.get(("bridge-mp", ways))
    if mp_one and mp_many and mp_one.rate and mp_many.rate:
        scaling = mp_many.rate / mp_one.rate
        targets.append((f"bridge-mp: {ways} associations ≥ {TARGET_SCALING}× one", scaling >= TARGET_SCALING,
                        f"{mp_many.rate:.0f} vs {mp_one.rate:.0f} inst/s ({scaling:.2f}×)"))
    else:
        targets.append((f"bridge-mp: {ways} associations ≥ {TARGET_SCALING}× one", False, "no successful runs"))
    lines += ["", "Targets (against the runs above):"]
    lines += [f"  {'PASS' if ok else 'FAIL'}    {what}  {why}" for what, ok, why in targets]
    return "\n".join(lines), targets


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 run per cell instead of 3")
    parser.add_argument("--runs", type=int, help="runs per receiver and concurrency (default 3, 1 with --quick)")
    parser.add_argument("--only", nargs="+", action="extend", choices=list(RECEIVERS), help="only these receivers")
    parser.add_argument("--associations", type=int, default=4, help="concurrent associations (default 4)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per transfer")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the target is PASS")
    parser.add_argument("--no-netns", action="store_true", help="run on the host's loopback, not in a namespace")
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.only = [r for r in RECEIVERS if r in (args.only or RECEIVERS)]
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not lb.REPO_PYTHON.exists() or not shutil.which("storescu"):
        lb.log("needs the project venv and DCMTK storescu")
        return 2
    if not args.in_netns:
        lb.prepare_workloads(["small"], args.timeout)
    network = lb.enter_namespace(args, argv, script=Path(__file__).resolve())
    workload = lb.load_workload("small")
    prime_set = lb.make_prime_workload(workload)
    lb.warm_page_cache(workload.files + prime_set.files)
    receivers = [RECEIVERS[name]() for name in args.only]
    started = datetime.now(UTC)
    usable = []
    for receiver in receivers:
        failure = lb.prime(receiver, prime_set, args.timeout)
        if failure:
            lb.log(f"{receiver.name}: FAILED: {failure}")
        else:
            usable.append(receiver)
    cells: dict[tuple[str, int], Cell] = {}
    for round_no in range(1, args.runs + 1):  # interleaved, so that a change of load hits every cell alike
        for ways in (1, args.associations):
            for receiver in usable:
                lb.log(f"round {round_no}: {receiver.name} × {ways} association(s) …")
                transfer = concurrent_run(receiver, workload, ways, round_no, args.timeout)
                cells.setdefault((receiver.name, ways), Cell(receiver.name, ways, [])).runs.append(transfer)
    report, targets = render(cells, args.associations, workload, online_cpus(), args.runs, network)
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "ingest", "argv": sys.argv, "started": started.isoformat(), "runs": args.runs,
        "cells": [{"receiver": c.receiver, "associations": c.associations, "inst_per_s": c.rate,
                   "runs": [asdict(t) for t in c.runs]} for c in cells.values()],
        "targets": [{"target": what, "passed": ok, "figures": why} for what, ok, why in targets],
        "report": report,
    }, indent=2))
    print(f"\nresults: {RESULTS.relative_to(lb.REPO)}")
    return 1 if args.check and not all(ok for _what, ok, _why in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
