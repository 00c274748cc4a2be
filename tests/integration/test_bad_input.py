"""The bad-input corpus (tests/badinput.py) against what the workers call, and against the whole service.

- every item through the parsing entry points (identify, read_outcome): the outcome, the reason, the finding;
  truncations at every offset of the sample CT;
- the whole corpus sent over C-STORE (its bytes on the wire as they are) and dropped into the inbox of one running
  service: it keeps running, every item is refused, quarantined with its reason or converted, and the accounting is
  exact; its memory stays bounded;
- a handful of items sent by DCMTK's storescu.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from pynetdicom import AE, _config, dimse_primitives, evt
from pynetdicom.association import Association
from sqlalchemy import select

from bridge.api import read_outcome, reason_of
from bridge.errors import InputError
from bridge.ingest.quarantine import REASON_SUFFIX
from bridge.ingest.scp import set_tcp_nodelay
from bridge.model import InstanceHeader, InstanceIdentity
from bridge.service.harness import Bridge
from bridge.service.work import identify
from bridge.store import InstanceRecord, InstanceState, StateStore, StudyState
from bridge.store.repo import _instance_record
from bridge.store.schema import instances
from tests.badinput import Item, Outcome, corpus, truncations, wire_file, write

RSS_BOUND_MB = 200  # growth of the service (main process and workers) over the whole corpus
# The service test cuts the sample CT at every offset up to 512 bytes past its File Meta, then every 16th (896
# truncations, 937 items per leg); the parsing test above takes every offset.
SERVICE_DENSE = 512
QUARANTINE_READ = re.compile(r"^file: (?P<file>.*)$", re.MULTILINE)
ABORTED = "the listener aborted the association"
NO_CONTEXT = "the listener accepted no presentation context for SOP class"


def _failure(status: int) -> bool:
    """A C-STORE failure status: Refused (0xA7xx), Error (0xA9xx, 0xCxxx), PS3.4 B.2.3."""
    return 0xA700 <= status <= 0xA7FF or 0xA900 <= status <= 0xA9FF or 0xC000 <= status <= 0xCFFF


# ------------------------------------------------------------------------------------------ parsing entry points


def _inbox_outcome(path: Path) -> tuple[Outcome, str, list[str]]:
    """What a worker makes of a file: (outcome, reason, findings), as the folder watch and a build would."""
    identity = identify(str(path))
    if not isinstance(identity, InstanceIdentity):
        return Outcome.QUARANTINED, identity, []
    header = read_outcome(path)
    if isinstance(header, InstanceHeader):
        report = header.report.findings if header.report is not None else ()
        return Outcome.CONVERTED, "", [f.message for f in (*header.findings, *report)]
    return Outcome.QUARANTINED, reason_of(header) if isinstance(header, InputError) else header, []


def _check_item(item: Item, outcome: Outcome, reason: str, findings: list[str]) -> str | None:
    """Why ``item``'s inbox outcome is wrong, or None."""
    expect = item.expect
    if outcome not in expect.inbox:
        return f"{item.name}: {outcome} (expected {'/'.join(sorted(expect.inbox))}) {reason}"
    if outcome is Outcome.QUARANTINED and (reason.startswith("unexpected error") or not re.search(
            expect.reason, reason, re.IGNORECASE)):
        return f"{item.name}: quarantined with reason {reason!r}, which does not name the problem ({expect.reason})"
    if outcome is Outcome.CONVERTED and expect.finding and not any(
            re.search(expect.finding, f, re.IGNORECASE) for f in findings):
        return f"{item.name}: converted without a finding matching {expect.finding!r}: {findings}"
    return None


def test_every_item_is_read_as_expected(tmp_path: Path) -> None:
    items = corpus("direct")
    problems = [p for item, path in write(items, tmp_path) if (p := _check_item(item, *_inbox_outcome(path)))]
    assert problems == [], "\n".join(problems[:40])


def test_truncation_at_every_offset_is_refused_or_used_with_a_finding(tmp_path: Path) -> None:
    """The sample CT cut at every one of its 3,402 offsets from the preamble's end (the service test takes a stride)."""
    items = truncations("every-offset", dense=1 << 20, stride=1, pixel_stride=1)
    assert len(items) == 3402
    problems = [p for item, path in write(items, tmp_path) if (p := _check_item(item, *_inbox_outcome(path)))]
    assert problems == [], "\n".join(problems[:40])


# -------------------------------------------------------------------------------------------------- the service


@dataclass(frozen=True)
class Sent:
    item: Item
    status: int  # -1: not acknowledged without a status (association aborted or rejected)
    comment: str


@contextmanager
def _lenient_uids() -> Iterator[None]:
    """Let this thread's pynetdicom build commands with UIDs it would refuse (over 64 characters): a hostile SCU
    sends them. The listener's own threads still validate what they receive."""
    original = dimse_primitives.set_uid
    sender = threading.current_thread()

    def set_uid(value: object, name: str, allow_empty: bool = True, allow_none: bool = True,
                validate: bool = True) -> object:
        return original(value, name, allow_empty, allow_none, validate and threading.current_thread() is not sender)

    dimse_primitives.set_uid = set_uid  # type: ignore[assignment]
    try:
        yield
    finally:
        dimse_primitives.set_uid = original


def _send(port: int, called: str, folder: Path, items: list[Item], batch: int = 64) -> list[Sent]:
    """C-STORE each item's wire message, its data set bytes as they are, a few dozen per association."""
    folder.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list[tuple[Item, Path]]] = {}
    for index, item in enumerate(items):
        message = item.expect.message
        assert message is not None
        groups.setdefault((message.sop_class_uid, message.transfer_syntax), []).append(
            (item, wire_file(message, folder / f"{index:05d}.dcm")))
    sent: list[Sent] = []
    with _lenient_uids():
        for (sop_class, transfer_syntax), members in groups.items():
            pending = list(members)
            while pending:
                chunk, pending = pending[:batch], pending[batch:]
                ae = AE(ae_title="HARNESS")
                ae.add_requested_context(sop_class, transfer_syntax)
                assoc = ae.associate("127.0.0.1", port, ae_title=called, evt_handlers=[(evt.EVT_CONN_OPEN,
                                                                                         set_tcp_nodelay)])
                if not assoc.is_established:
                    sent += [Sent(item, -1, f"{NO_CONTEXT} {sop_class}") for item, _ in chunk]
                    continue
                for position, (item, path) in enumerate(chunk):
                    status = assoc.send_c_store(path)
                    if "Status" in status:
                        sent.append(Sent(item, int(status.Status), str(status.get("ErrorComment", ""))))
                        continue
                    sent.append(Sent(item, -1, ABORTED))
                    pending = chunk[position + 1 :] + pending  # a new association for the rest
                    break
                _close(assoc)
    return sent


def _overlong_command(item: Item) -> bool:
    """A command whose UID pynetdicom cannot decode: sent in a test of its own (the listener aborts the association)."""
    return item.expect.message is not None and len(item.expect.message.sop_instance_uid) > 64


def _close(assoc: Association) -> None:
    if assoc.is_established:
        assoc.release()


def _rss_mb(process: psutil.Process) -> float:
    """Resident memory of the process and its children (the workers), in MB."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 1e6


def _quarantine(data_dir: Path) -> dict[str, tuple[Path, str]]:
    """{original path: (quarantined file, reason)} of every quarantine entry."""
    entries = {}
    for reason_file in sorted((data_dir / "quarantine").glob(f"*{REASON_SUFFIX}")):
        body = reason_file.read_text(encoding="utf-8")
        match = QUARANTINE_READ.search(body)
        assert match is not None, body
        reason = body.partition("\nreason: ")[2].rstrip("\n")
        quarantined = reason_file.with_name(reason_file.name.removesuffix(REASON_SUFFIX))
        assert match["file"] not in entries, f"{match['file']} quarantined twice"
        entries[match["file"]] = (quarantined, reason)
    return entries


def _emitted_instances(bridge: Bridge, study_uid: str) -> set[str]:
    imaging_study = json.loads((bridge.study_folder(study_uid) / "ImagingStudy.json").read_bytes())
    return {i["uid"] for s in imaging_study.get("series", ()) for i in s.get("instance", ())}


def _wait(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.filterwarnings("ignore")  # as in production: pydicom's warnings about hostile values are not errors
def test_service_survives_the_corpus_over_c_store_and_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # the data set bytes on the wire as they are
    wire_items = [item for item in corpus("wire", dense=SERVICE_DENSE)
                  if item.expect.wire is not None and not _overlong_command(item)]
    inbox_items = corpus("inbox", dense=SERVICE_DENSE)
    started = time.monotonic()
    with Bridge.running(tmp_path / "bridge", quiet_period=3.0) as bridge:
        service, store = bridge.service, bridge.service.store
        assert store is not None and service.scheduler is not None
        pool = service.scheduler.pool
        me = psutil.Process()
        rss_start = _rss_mb(me)

        t0 = time.monotonic()
        sent = _send(bridge.port, bridge.ae_title, tmp_path / "wire", wire_items)
        t1 = time.monotonic()
        originals = dict(write(inbox_items, tmp_path / "originals"))
        dropped = dict(zip((item.name for item in inbox_items), bridge.drop(originals.values()), strict=True))
        _wait(lambda: not any(p.exists() for p in dropped.values()), "the inbox to be emptied", 60)
        t2 = time.monotonic()
        bridge.wait_idle(timeout=90)
        t3 = time.monotonic()
        phases = f"start {t0 - started:.1f} s, send {t1 - t0:.1f} s, inbox {t2 - t1:.1f} s, idle {t3 - t2:.1f} s"
        rss_end = _rss_mb(me)
        elapsed = time.monotonic() - started

        # The service is still running: C-ECHO, its threads, the same worker pool (no worker died).
        assert bridge.echo() == 0x0000
        alive = {t.name for t in threading.enumerate() if t.is_alive()}
        assert {"bridge-scheduler", "bridge-watch"} <= alive
        assert service.scheduler.pool is pool, "a worker process died: the pool was replaced"

        data_dir = service.data_dir
        quarantine = _quarantine(data_dir)
        for quarantined, reason in quarantine.values():
            assert quarantined.is_file() and quarantined.parent == data_dir / "quarantine"
            assert reason.strip()
        assert list((data_dir / "tmp").iterdir()) == []
        assert list(bridge.inbox.iterdir()) == []
        assert not [p for p in tmp_path.rglob("*") if p.name in ("passwd", "escaped")]  # no UID chose a path
        # A study sealed; or, when every instance of it was quarantined while it was built, failed for want of one
        # and not due again (nothing to retry until a new instance arrives).
        studies = {s.study_instance_uid: s for s in bridge.studies()}
        assert all(s.state is StudyState.SEALED or (s.state is StudyState.FAILED and s.instance_count == 0
                                                      and s.last_error == "no instance of the study could be used"
                                                      and s.due_at is None)
                   for s in studies.values()), {uid: (s.state, s.last_error) for uid, s in studies.items()}
        emitted: dict[str, set[str]] = {}

        def converted(study_uid: str | None, sop_instance_uid: str) -> bool:
            if study_uid is None or study_uid not in studies:
                return False
            if study_uid not in emitted:
                emitted[study_uid] = _emitted_instances(bridge, study_uid)
            return sop_instance_uid in emitted[study_uid]

        problems: list[str] = []
        used_entries: set[str] = set()

        # C-STORE: refused with a failure status (or the association aborted/rejected), else stored and then
        # converted or quarantined.
        counts = {"sent": len(sent), "refused": 0, "acknowledged": 0, "quarantined": 0, "converted": 0}
        for result in sent:
            item, expect = result.item, result.item.expect
            assert expect.wire is not None and expect.message is not None
            uid = expect.message.sop_instance_uid
            if result.status != 0x0000:
                counts["refused"] += 1
                if Outcome.REFUSED not in expect.wire:
                    problems.append(f"wire {item.name}: refused ({result.status:#06x} {result.comment}), expected "
                                    f"{'/'.join(sorted(expect.wire))}")
                elif result.status != -1 and not _failure(result.status):
                    problems.append(f"wire {item.name}: status {result.status:#06x} is no failure status")
                elif not re.search(expect.reason + f"|{ABORTED}|{NO_CONTEXT}", result.comment, re.IGNORECASE):
                    problems.append(f"wire {item.name}: refused with {result.comment!r}, not naming {expect.reason}")
                if store.instance(uid) is not None:
                    problems.append(f"wire {item.name}: refused, yet recorded")
                continue
            counts["acknowledged"] += 1
            record = store.instance(uid)
            if record is None:
                problems.append(f"wire {item.name}: acknowledged but not in the store (silently dropped)")
                continue
            if record.state is InstanceState.REJECTED:
                counts["quarantined"] += 1
                entry = quarantine.get(record.path)
                used_entries.add(record.path)
                if Outcome.QUARANTINED not in expect.wire:
                    problems.append(f"wire {item.name}: quarantined ({record.error}), expected "
                                    f"{'/'.join(sorted(expect.wire))}")
                elif entry is None or entry[1] != record.error:
                    problems.append(f"wire {item.name}: rejected ({record.error}) but not in the quarantine")
                elif entry[1].startswith("unexpected error") or not re.search(expect.reason, entry[1], re.I):
                    problems.append(f"wire {item.name}: quarantined with {entry[1]!r}, not naming {expect.reason}")
            elif record.state is InstanceState.PARSED and converted(record.study_instance_uid, uid):
                counts["converted"] += 1
                if Outcome.CONVERTED not in expect.wire:
                    problems.append(f"wire {item.name}: converted, expected {'/'.join(sorted(expect.wire))}")
            else:
                problems.append(f"wire {item.name}: left {record.state} in study {record.study_instance_uid}")
        wire_records = [r for r in _all_instances(store) if r.calling_ae == "HARNESS"]
        acknowledged = {r.item.expect.message.sop_instance_uid  # type: ignore[union-attr]
                        for r in sent if r.status == 0x0000}
        problems += [f"wire: {r.sop_instance_uid} recorded ({r.state}, {r.error}) but never acknowledged"
                     for r in wire_records if r.sop_instance_uid not in acknowledged]
        assert problems == [], "\n".join(problems[:40]) + f"\n{counts}"
        assert counts["acknowledged"] == len(wire_records) == counts["quarantined"] + counts["converted"], counts

        # Inbox: every file taken; quarantined where it lay (unusable), or spooled and then converted or quarantined.
        inbox_counts = {"dropped": len(dropped), "quarantined": 0, "converted": 0}
        by_digest = {r.digest: r for r in _all_instances(store) if r.source.startswith("folder ")}
        for item in inbox_items:
            expect, path = item.expect, dropped[item.name]
            entry = quarantine.get(str(path))
            record = by_digest.get(hashlib.sha256(item.data).hexdigest())
            if entry is not None:
                used_entries.add(str(path))
                reason = entry[1]
            elif record is not None and record.state is InstanceState.REJECTED:
                used_entries.add(record.path)
                reason = quarantine[record.path][1] if record.path in quarantine else ""
                if reason != record.error:
                    problems.append(f"inbox {item.name}: rejected ({record.error}) but not in the quarantine")
            elif record is not None and record.state is InstanceState.PARSED:
                if not converted(record.study_instance_uid, record.sop_instance_uid):
                    problems.append(f"inbox {item.name}: placed in {record.study_instance_uid} but not emitted")
                inbox_counts["converted"] += 1
                if Outcome.CONVERTED not in expect.inbox:
                    problems.append(f"inbox {item.name}: converted, expected {'/'.join(sorted(expect.inbox))}")
                continue
            else:
                problems.append(f"inbox {item.name}: gone from the inbox, but neither stored nor quarantined")
                continue
            inbox_counts["quarantined"] += 1
            if Outcome.QUARANTINED not in expect.inbox:
                problems.append(f"inbox {item.name}: quarantined ({reason}), expected {'/'.join(sorted(expect.inbox))}")
            elif reason.startswith("unexpected error") or not re.search(expect.reason, reason, re.IGNORECASE):
                problems.append(f"inbox {item.name}: quarantined with {reason!r}, not naming {expect.reason}")
        assert inbox_counts["dropped"] == inbox_counts["quarantined"] + inbox_counts["converted"], inbox_counts
        assert set(quarantine) == used_entries, f"unaccounted quarantine entries: {set(quarantine) - used_entries}"
        assert problems == [], "\n".join(problems[:40])

    growth = rss_end - rss_start
    print(f"\nbad input: C-STORE {counts}; inbox {inbox_counts}; {elapsed:.1f} s; "
          f"({phases}); RSS {rss_start:.0f} -> {rss_end:.0f} MB (+{growth:.0f} MB)")
    assert growth < RSS_BOUND_MB, f"the service grew by {growth:.0f} MB over the corpus"


def _all_instances(store: StateStore) -> list[InstanceRecord]:
    """Every instance record, whatever its state or study (the store has no public listing of them all)."""
    with store._read("test") as conn:
        return [_instance_record(row) for row in conn.execute(select(instances)).all()]


class LeftoverError(AssertionError):
    """The listener left a partly received data set behind."""


@pytest.mark.filterwarnings("ignore")
def test_command_with_overlong_uid_is_refused_and_leaves_nothing_behind(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    items = [item for item in corpus("overlong") if item.expect.wire is not None and _overlong_command(item)]
    assert len(items) == 2
    try:
        with Bridge.running(tmp_path / "bridge") as bridge:
            sent = _send(bridge.port, bridge.ae_title, tmp_path / "wire", items)
            assert [(s.status, s.comment) for s in sent] == [(-1, ABORTED)] * 2
            assert bridge.echo() == 0x0000
            bridge.wait_idle()
            assert bridge.studies() == [] and not (bridge.service.data_dir / "quarantine").exists()
            # pynetdicom aborts the association; when its connection closes, its receive file is removed
            tmp = bridge.service.data_dir / "tmp"
            deadline = time.monotonic() + 10
            while (leftovers := list(tmp.iterdir())) and time.monotonic() < deadline:
                time.sleep(0.05)
            if leftovers:
                raise LeftoverError(f"left behind: {[p.name for p in leftovers]}")
    finally:
        gc.collect()  # the leaked files are closed here, while warnings are ignored, not at interpreter exit


# ------------------------------------------------------------------------------------------------------ storescu

STORESCU_ITEMS = {  # item -> what storescu does with it: "sends" (then the wire expectation holds) or "refuses"
    "missing-StudyInstanceUID": "sends",
    "uid-path-traversal": "sends",
    "uid-leading-zeros": "sends",
    "vr-sequence-as-OB": "sends",
    "sr-dangling-byref": "sends",
    "sr-cyclic-byref": "sends",
    "sr-deep-100": "sends",
    "deflate-valid": "sends",
    "ts-says-implicit-data-explicit": "refuses",  # DCMTK reads it as implicit VR, as its File Meta says
    "length-huge-after-uids": "refuses",
    "vr-sop-instance-uid-as-US": "refuses",
    "truncated-at-01000": "refuses",
    "length-past-end-UT": "refuses",
    "deflate-garbage": "refuses",
    "random-bytes": "refuses",
    "empty-file": "refuses",
}


def _dcmtk_storescu() -> str:
    """DCMTK's storescu (pynetdicom installs a Python app of the same name); skips, or fails under
    BRIDGE_REQUIRE_DCMTK=1, when there is none."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which("storescu", path=folder) if folder else None
        if candidate is not None and "$dcmtk:" in subprocess.run([candidate, "--version"], capture_output=True,
                                                                 text=True, timeout=30, check=False).stdout:
            return candidate
    reason = "DCMTK's storescu is not on PATH (Debian package dcmtk)"
    if os.environ.get("BRIDGE_REQUIRE_DCMTK") == "1":
        pytest.fail(f"{reason}, and BRIDGE_REQUIRE_DCMTK=1 requires it")
    pytest.skip(reason)


@pytest.mark.filterwarnings("ignore")  # as in production: pydicom's warnings about hostile values are not errors
def test_storescu_sends_some_malformed_files(tmp_path: Path) -> None:
    """storescu parses and re-encodes what it sends: it refuses the files it cannot read (listed as such)."""
    storescu = _dcmtk_storescu()
    items = {item.name: item for item in corpus("storescu") if item.name in STORESCU_ITEMS}
    assert set(items) == set(STORESCU_ITEMS)
    with Bridge.running(tmp_path / "bridge", quiet_period=0.3) as bridge:
        store = bridge.service.store
        assert store is not None
        results = {}
        for item, path in write(list(items.values()), tmp_path / "files"):
            run = subprocess.run([storescu, "-v", "-aet", "DCMTK", "-aec", bridge.ae_title, "127.0.0.1",
                                  str(bridge.port), str(path)], capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "TCP_NODELAY": "1"})
            results[item.name] = run
        bridge.wait_idle(timeout=60)
        problems = []
        for name, run in results.items():
            output = run.stdout + run.stderr
            sent = "Received Store Response" in output
            if STORESCU_ITEMS[name] == "refuses":
                if sent:
                    problems.append(f"{name}: storescu sent it; the corpus says it refuses to")
                continue
            if not sent:
                problems.append(f"{name}: storescu did not send it: {output[-300:]}")
                continue
            expect = items[name].expect
            assert expect.wire is not None and expect.message is not None
            record = store.instance(expect.message.sop_instance_uid)
            if "Store Response (Success)" not in output:
                outcome = Outcome.REFUSED
            elif record is not None and record.state is InstanceState.REJECTED:
                outcome = Outcome.QUARANTINED
            elif record is not None and record.state is InstanceState.PARSED:
                outcome = Outcome.CONVERTED
            else:
                problems.append(f"{name}: acknowledged, then {record}")
                continue
            if outcome not in expect.wire:
                problems.append(f"{name}: {outcome}, expected {'/'.join(sorted(expect.wire))}")
        assert bridge.echo() == 0x0000
        assert problems == [], "\n".join(problems)

