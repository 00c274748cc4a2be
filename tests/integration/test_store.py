"""The state store on SQLite and PostgreSQL: recording, parsing, study life cycle, leases, schema versions."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Connection, create_engine, inspect, text

from bridge.errors import StoreError
from bridge.store import (
    STORE_SCHEMA_VERSION,
    Identity,
    InstanceState,
    QueueCounts,
    Receipt,
    RecordOutcome,
    RecordResult,
    StateStore,
    StudyState,
    Timing,
    default_sqlite_url,
    open_store,
)
from bridge.store.migrations import STEPS, Step, ensure_schema

T0 = 1_700_000_000.0
QUIET, MAX_AGE = 60.0, 600.0
TIMING = Timing(quiet_period=QUIET, max_age=MAX_AGE)
CT = "1.2.840.10008.5.1.4.1.1.2"
R = TypeVar("R")


def receipt(uid: str, *, digest: str = "d1", at: float = T0, path: str | None = None) -> Receipt:
    return Receipt(sop_instance_uid=uid, sop_class_uid=CT, path=path or f"/spool/{uid}-{digest}.dcm", size=1234,
                   digest=digest, source="AE MODALITY 10.0.0.7", calling_ae="MODALITY", received_at=at)


def add(store: StateStore, uid: str, study: str, *, at: float = T0, digest: str = "d1",
        timing: Timing = TIMING) -> None:
    """Record an instance received at ``at`` and parse it into ``study`` a second later."""
    store.record_instance(receipt(uid, digest=digest, at=at))
    assert store.mark_parsed(uid, digest, Identity(study, f"{study}.1"), timing, at + 1)


def in_threads(n: int, work: Callable[[int], R]) -> list[R]:
    """Run ``work(0..n-1)`` in n threads started together; re-raises the first failure."""
    barrier = threading.Barrier(n)
    results: list[R | None] = [None] * n
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # noqa: B036 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


# -- recording ---------------------------------------------------------------------------------------------------


def test_new_duplicate_and_replaced(store: StateStore) -> None:
    assert store.record_instance(receipt("1.1", digest="a", path="/spool/a")) == RecordResult(RecordOutcome.NEW, None)
    again = receipt("1.1", digest="a", path="/spool/a-again", at=T0 + 5)
    assert store.record_instance(again) == RecordResult(RecordOutcome.DUPLICATE, None)
    first = store.instance("1.1")
    assert first is not None
    assert (first.path, first.received_at, first.digest, first.state) == ("/spool/a", T0, "a", InstanceState.RECEIVED)

    newer = Receipt("1.1", "1.2.3.other-class", "/spool/b", 99, "b", "folder /inbox", None, T0 + 10)
    assert store.record_instance(newer) == RecordResult(RecordOutcome.REPLACED, "/spool/a")
    replaced = store.instance("1.1")
    assert replaced is not None
    assert (replaced.path, replaced.size, replaced.digest, replaced.source, replaced.calling_ae, replaced.received_at,
            replaced.state) == ("/spool/b", 99, "b", "folder /inbox", None, T0 + 10, InstanceState.RECEIVED)

    same_path = receipt("1.1", digest="c", path="/spool/b", at=T0 + 20)
    assert store.record_instance(same_path) == RecordResult(RecordOutcome.REPLACED, None)
    assert store.counts() == QueueCounts(unparsed=1, open_studies=0, building_studies=0)


def test_replacing_a_parsed_instance_makes_it_pending_again_in_its_old_study(store: StateStore) -> None:
    add(store, "1.1", "9.1", digest="a")
    assert store.mark_rejected("1.2", "x", "never recorded", T0) is False
    assert store.record_instance(receipt("1.1", digest="b", at=T0 + 30)).outcome is RecordOutcome.REPLACED
    inst = store.instance("1.1")
    assert inst is not None
    assert (inst.state, inst.study_instance_uid, inst.error) == (InstanceState.RECEIVED, "9.1", None)
    assert [p.sop_instance_uid for p in store.pending_instances(10)] == ["1.1"]
    study = store.study("9.1")
    assert study is not None and study.instance_count == 0


def test_pending_instances_oldest_first_with_limit(store: StateStore) -> None:
    for uid, at in [("1.3", T0 + 3), ("1.1", T0 + 1), ("1.2", T0 + 2), ("1.4", T0 + 4)]:
        store.record_instance(receipt(uid, at=at))
    add(store, "1.0", "9.1", at=T0)  # parsed: not pending
    pending = store.pending_instances(3)
    assert [(p.sop_instance_uid, p.received_at) for p in pending] == [("1.1", T0 + 1), ("1.2", T0 + 2),
                                                                       ("1.3", T0 + 3)]
    assert (pending[0].path, pending[0].digest, pending[0].calling_ae) == ("/spool/1.1-d1.dcm", "d1", "MODALITY")
    assert store.pending_instances(0) == []


def test_concurrent_recording_from_eight_threads(store: StateStore) -> None:
    def work(thread: int) -> list[RecordResult]:
        results = [store.record_instance(receipt(f"2.{thread}.{i}", at=T0 + i)) for i in range(25)]
        results.append(store.record_instance(receipt("2.shared", digest="same", at=T0)))
        return results

    results = [r for batch in in_threads(8, work) for r in batch]
    outcomes = [r.outcome for r in results]
    assert outcomes.count(RecordOutcome.NEW) == 201
    assert outcomes.count(RecordOutcome.DUPLICATE) == 7
    pending = store.pending_instances(1000)
    assert len(pending) == len({p.sop_instance_uid for p in pending}) == 201
    assert store.counts().unparsed == 201


def test_concurrent_copies_of_one_instance_leave_one_row(store: StateStore) -> None:
    results = in_threads(8, lambda i: store.record_instance(receipt("3.1", digest=f"copy{i % 2}", at=T0 + i)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(RecordOutcome.NEW) == 1
    assert len(store.pending_instances(10)) == 1
    assert store.instance("3.1") is not None


def test_concurrent_parsing_into_one_new_study(store: StateStore) -> None:
    for i in range(16):
        store.record_instance(receipt(f"4.{i:02d}", at=T0 + i))
    in_threads(16, lambda i: store.mark_parsed(f"4.{i:02d}", "d1", Identity("9.4", "9.4.1"), TIMING, T0 + 100))
    study = store.study("9.4")
    assert study is not None
    assert (study.state, study.generation, study.instance_count) == (StudyState.OPEN, 16, 16)
    assert (study.first_arrival, study.last_arrival, study.due_at) == (T0, T0 + 15, T0 + 15 + QUIET)


def test_odd_uids_are_stored_unchanged(store: StateStore) -> None:
    rng = random.Random(7)
    long_sop = "1." + "".join(rng.choice("0123456789.") for _ in range(9_998))  # no B-tree could hold it
    long_study = "2." + "".join(rng.choice("0123456789") for _ in range(9_998))
    assert len(long_sop) == len(long_study) == 10_000
    for uid, study in [(long_sop, long_study), ("../../x", "../../y")]:
        add(store, uid, study)
        inst = store.instance(uid)
        assert inst is not None
        assert (inst.sop_instance_uid, inst.study_instance_uid, inst.series_instance_uid) == (uid, study, f"{study}.1")
        assert [i.sop_instance_uid for i in store.instances_of(study)] == [uid]
        assert store.record_instance(receipt(uid)).outcome is RecordOutcome.DUPLICATE
    claims = store.claim_due_studies(T0 + QUIET, "node-a", 60, 10)
    assert sorted((c.study_instance_uid, c.instances[0].sop_instance_uid) for c in claims) == sorted(
        [(long_study, long_sop), ("../../y", "../../x")])
    assert [s.study_instance_uid for s in store.studies()] == sorted([long_study, "../../y"])


# -- parsing and rejecting ---------------------------------------------------------------------------------------


def test_parse_opens_a_study_due_after_the_quiet_period(store: StateStore) -> None:
    store.record_instance(receipt("1.1", at=T0))
    assert store.mark_parsed("1.1", "d1", Identity("9.1", "9.1.7"), TIMING, T0 + 2) is True
    inst = store.instance("1.1")
    assert inst is not None
    assert (inst.state, inst.study_instance_uid, inst.series_instance_uid) == (InstanceState.PARSED, "9.1", "9.1.7")
    study = store.study("9.1")
    assert study is not None
    assert (study.state, study.revision, study.generation, study.instance_count) == (StudyState.OPEN, 0, 1, 1)
    assert (study.first_arrival, study.last_arrival, study.due_at) == (T0, T0, T0 + QUIET)
    assert (study.emitted_digest, study.lease_owner) == (None, None)
    assert store.counts() == QueueCounts(unparsed=0, open_studies=1, building_studies=0)


def test_a_steady_stream_seals_at_max_age(store: StateStore) -> None:
    for n in range(12):  # one instance every 50 s: the quiet period never passes
        add(store, f"1.{n:02d}", "9.1", at=T0 + 50 * n)
    study = store.study("9.1")
    assert study is not None
    assert (study.generation, study.first_arrival, study.last_arrival) == (12, T0, T0 + 550)
    assert study.due_at == T0 + MAX_AGE  # min(550 + 60, 0 + 600)


def test_the_latest_arrivals_timing_wins(store: StateStore) -> None:
    add(store, "1.1", "9.1", at=T0)
    add(store, "1.2", "9.1", at=T0 + 10, timing=Timing(quiet_period=5, max_age=1000))
    study = store.study("9.1")
    assert study is not None and study.due_at == T0 + 15


def test_mark_parsed_and_rejected_need_the_current_copy(store: StateStore) -> None:
    store.record_instance(receipt("1.1", digest="old"))
    store.record_instance(receipt("1.1", digest="new", at=T0 + 1))
    identity = Identity("9.1", "9.1.1")
    assert store.mark_parsed("1.1", "old", identity, TIMING, T0 + 2) is False
    assert store.mark_rejected("1.1", "old", "unreadable", T0 + 2) is False
    assert store.mark_parsed("unknown", "new", identity, TIMING, T0 + 2) is False
    assert store.mark_parsed("1.1", "new", identity, TIMING, T0 + 2) is True
    assert store.mark_parsed("1.1", "new", identity, TIMING, T0 + 3) is False  # already parsed
    study = store.study("9.1")
    assert study is not None and study.generation == 1


def test_rejecting_an_unparsed_instance(store: StateStore) -> None:
    store.record_instance(receipt("1.1"))
    assert store.mark_rejected("1.1", "d1", "not DICOM", T0 + 1) is True
    assert store.mark_rejected("1.1", "d1", "again", T0 + 2) is False
    inst = store.instance("1.1")
    assert inst is not None
    assert (inst.state, inst.error, inst.study_instance_uid) == (InstanceState.REJECTED, "not DICOM", None)
    assert store.studies() == []
    assert store.counts() == QueueCounts(0, 0, 0)
    # a new copy of a rejected instance is received again
    assert store.record_instance(receipt("1.1", digest="d2")).outcome is RecordOutcome.REPLACED
    inst = store.instance("1.1")
    assert inst is not None and (inst.state, inst.error) == (InstanceState.RECEIVED, None)


def test_rejecting_a_parsed_instance_reopens_its_sealed_study(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    add(store, "1.2", "9.1")
    claim, = store.claim_due_studies(T0 + 100, "node-a", 60, 10)
    store.complete_study("9.1", "node-a", claim.revision, claim.generation, "digest-1", T0 + 101)
    assert store.mark_rejected("1.2", "d1", "pixel data unreadable", T0 + 200) is True
    study = store.study("9.1")
    assert study is not None
    assert (study.state, study.generation, study.instance_count, study.due_at) == (StudyState.OPEN, 3, 1, T0 + 200)
    again, = store.claim_due_studies(T0 + 200, "node-a", 60, 10)
    assert (again.revision, [i.sop_instance_uid for i in again.instances]) == (2, ["1.1"])


def test_a_replaced_instance_moves_to_another_study(store: StateStore) -> None:
    add(store, "1.1", "9.A", digest="a")
    add(store, "1.2", "9.A")
    claim, = store.claim_due_studies(T0 + 100, "node-a", 60, 10)
    store.complete_study("9.A", "node-a", claim.revision, claim.generation, "digest-A1", T0 + 101)

    store.record_instance(receipt("1.1", digest="b", at=T0 + 500))
    assert store.mark_parsed("1.1", "b", Identity("9.B", "9.B.1"), TIMING, T0 + 501) is True
    old, new = store.study("9.A"), store.study("9.B")
    assert old is not None and new is not None
    assert (old.state, old.generation, old.instance_count, old.due_at) == (StudyState.OPEN, 3, 1, T0 + 501)
    assert (new.state, new.generation, new.instance_count, new.due_at) == (StudyState.OPEN, 1, 1, T0 + 500 + QUIET)
    assert [i.sop_instance_uid for i in store.instances_of("9.B")] == ["1.1"]
    assert [i.sop_instance_uid for i in store.instances_of("9.A")] == ["1.2"]

    claims = {c.study_instance_uid: c for c in store.claim_due_studies(T0 + 600, "node-a", 60, 10)}
    assert {uid: (c.revision, [i.sop_instance_uid for i in c.instances]) for uid, c in claims.items()} == {
        "9.A": (2, ["1.2"]), "9.B": (1, ["1.1"])}


# -- claiming and building ---------------------------------------------------------------------------------------


def test_claim_only_when_due(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    assert store.claim_due_studies(T0 + QUIET - 0.001, "node-a", 60, 10) == []
    claim, = store.claim_due_studies(T0 + QUIET, "node-a", 60, 10)
    assert (claim.study_instance_uid, claim.revision, claim.generation, claim.lease_owner) == ("9.1", 1, 1, "node-a")
    assert [(i.sop_instance_uid, i.series_instance_uid, i.path, i.digest) for i in claim.instances] == [
        ("1.1", "9.1.1", "/spool/1.1-d1.dcm", "d1")]
    study = store.study("9.1")
    assert study is not None
    assert (study.state, study.lease_owner, study.lease_until) == (StudyState.BUILDING, "node-a", T0 + QUIET + 60)
    assert store.counts() == QueueCounts(unparsed=0, open_studies=0, building_studies=1)


def test_claims_come_oldest_due_first_with_instances_sorted(store: StateStore) -> None:
    for n, study in enumerate(["9.3", "9.1", "9.2"]):
        for uid in ["1.9", "1.10", "1.2"]:
            add(store, f"{study}.{uid}", study, at=T0 + n)
    claims = store.claim_due_studies(T0 + 1000, "node-a", 60, 2)
    assert [c.study_instance_uid for c in claims] == ["9.3", "9.1"]
    assert [i.sop_instance_uid for i in claims[0].instances] == ["9.3.1.10", "9.3.1.2", "9.3.1.9"]
    assert [c.study_instance_uid for c in store.claim_due_studies(T0 + 1000, "node-a", 60, 2)] == ["9.2"]
    assert store.claim_due_studies(T0 + 1000, "node-a", 60, 0) == []


def test_an_earlier_unparsed_instance_blocks_the_claim(store: StateStore) -> None:
    store.record_instance(receipt("1.0", at=T0 + 30))  # might belong to the study: received before its due_at
    add(store, "1.1", "9.1", at=T0)
    assert store.claim_due_studies(T0 + 1000, "node-a", 60, 10) == []
    assert store.mark_parsed("1.0", "d1", Identity("9.2", "9.2.1"), TIMING, T0 + 1001)
    assert [c.study_instance_uid for c in store.claim_due_studies(T0 + 1001, "node-a", 60, 10)] == ["9.1", "9.2"]


def test_a_later_unparsed_instance_does_not_block(store: StateStore) -> None:
    add(store, "1.1", "9.1", at=T0)
    store.record_instance(receipt("1.2", at=T0 + QUIET))  # received at due_at: belongs to a later window
    assert [c.study_instance_uid for c in store.claim_due_studies(T0 + 1000, "node-a", 60, 10)] == ["9.1"]


def test_a_leased_study_cannot_be_claimed_by_another_owner(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    assert len(store.claim_due_studies(T0 + 100, "node-a", 60, 10)) == 1
    assert store.claim_due_studies(T0 + 101, "node-b", 60, 10) == []
    assert store.claim_due_studies(T0 + 101, "node-a", 60, 10) == []


def test_concurrent_claimers_get_disjoint_sets(store: StateStore) -> None:
    studies = [f"9.{n:02d}" for n in range(40)]
    for n, study in enumerate(studies):
        add(store, f"1.{n:02d}", study, at=T0 + n)

    def claim_all(worker: int) -> list[str]:
        got: list[str] = []
        while batch := store.claim_due_studies(T0 + 1000, f"node-{worker}", 60, 3):
            got.extend(c.study_instance_uid for c in batch)
        return got

    per_worker = in_threads(4, claim_all)
    claimed = [uid for got in per_worker for uid in got]
    assert sorted(claimed) == studies  # each exactly once
    owners = {s.study_instance_uid: s.lease_owner for s in store.studies()}
    for worker, got in enumerate(per_worker):
        assert all(owners[uid] == f"node-{worker}" for uid in got)


def test_complete_seals_revision_one(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    claim, = store.claim_due_studies(T0 + 100, "node-a", 60, 10)
    record = store.complete_study("9.1", "node-a", claim.revision, claim.generation, "digest-1", T0 + 105)
    assert record == store.study("9.1")
    assert (record.state, record.revision, record.generation, record.instance_count) == (StudyState.SEALED, 1, 1, 1)
    assert (record.emitted_digest, record.emitted_at, record.due_at) == ("digest-1", T0 + 105, None)
    assert (record.lease_owner, record.lease_until, record.last_error) == (None, None, None)
    assert store.counts() == QueueCounts(0, 0, 0)
    assert store.claim_due_studies(T0 + 10_000, "node-a", 60, 10) == []


def test_a_straggler_after_sealing_makes_revision_two(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    claim, = store.claim_due_studies(T0 + 100, "node-a", 60, 10)
    store.complete_study("9.1", "node-a", claim.revision, claim.generation, "digest-1", T0 + 105)

    straggler_at = T0 + 5000
    add(store, "1.2", "9.1", at=straggler_at, timing=Timing(quiet_period=60, max_age=30))
    study = store.study("9.1")
    assert study is not None
    assert (study.state, study.revision, study.generation) == (StudyState.OPEN, 1, 2)
    assert (study.first_arrival, study.last_arrival) == (straggler_at, straggler_at)
    assert study.due_at == straggler_at + 30  # the max age counts from the straggler, not the first arrival

    claim2, = store.claim_due_studies(straggler_at + 30, "node-b", 60, 10)
    assert (claim2.revision, claim2.generation, [i.sop_instance_uid for i in claim2.instances]) == (
        2, 2, ["1.1", "1.2"])
    record = store.complete_study("9.1", "node-b", claim2.revision, claim2.generation, "digest-2",
                                  straggler_at + 40)
    assert (record.state, record.revision, record.emitted_digest) == (StudyState.SEALED, 2, "digest-2")


def test_an_arrival_during_the_build_leaves_the_study_open(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    claim, = store.claim_due_studies(T0 + 1000, "node-a", 60, 10)
    add(store, "1.2", "9.1", at=T0 + 1001)
    building = store.study("9.1")
    assert building is not None
    assert (building.state, building.generation, building.first_arrival) == (StudyState.BUILDING, 2, T0 + 1001)
    assert building.due_at == T0 + 1001 + QUIET

    record = store.complete_study("9.1", "node-a", claim.revision, claim.generation, "digest-1", T0 + 1005)
    assert (record.state, record.revision, record.generation) == (StudyState.OPEN, 1, 2)
    assert (record.due_at, record.lease_owner) == (T0 + 1001 + QUIET, None)
    assert store.claim_due_studies(T0 + 1001 + QUIET - 1, "node-a", 60, 10) == []
    claim2, = store.claim_due_studies(T0 + 1001 + QUIET, "node-a", 60, 10)
    assert (claim2.revision, claim2.generation, len(claim2.instances)) == (2, 2, 2)


def test_a_failed_build_is_retried_at_retry_at(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    store.claim_due_studies(T0 + 100, "node-a", 60, 10)
    store.fail_study("9.1", "node-a", "sink unreachable", T0 + 400)
    study = store.study("9.1")
    assert study is not None
    assert (study.state, study.last_error, study.due_at, study.lease_owner) == (
        StudyState.FAILED, "sink unreachable", T0 + 400, None)
    assert store.counts() == QueueCounts(0, 1, 0)
    assert store.claim_due_studies(T0 + 399, "node-a", 60, 10) == []
    claim, = store.claim_due_studies(T0 + 400, "node-b", 60, 10)
    assert (claim.revision, claim.generation) == (1, 1)
    record = store.complete_study("9.1", "node-b", 1, 1, "digest-1", T0 + 401)
    assert (record.state, record.last_error) == (StudyState.SEALED, None)


def test_a_study_failed_without_retry_waits_for_a_new_instance(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    store.claim_due_studies(T0 + 100, "node-a", 60, 10)
    store.fail_study("9.1", "node-a", "no instance of the study could be used", None)
    study = store.study("9.1")
    assert study is not None
    assert (study.state, study.due_at) == (StudyState.FAILED, None)
    assert store.claim_due_studies(T0 + 10**6, "node-a", 60, 10) == []
    assert store.next_due_at() is None
    add(store, "1.2", "9.1", at=T0 + 500)
    reopened = store.study("9.1")
    assert reopened is not None
    assert (reopened.state, reopened.due_at) == (StudyState.OPEN, T0 + 500 + QUIET)
    claim, = store.claim_due_studies(T0 + 500 + QUIET, "node-b", 60, 10)
    assert [i.sop_instance_uid for i in claim.instances] == ["1.1", "1.2"]


def test_open_paths_are_the_parsed_instances_of_open_studies_and_say_which_are_quiet(store: StateStore) -> None:
    add(store, "1.1", "9.1", at=T0)  # quiet since T0: due T0 + QUIET
    add(store, "1.2", "9.1", at=T0 + 5)  # ...since T0 + 5
    add(store, "2.1", "9.2", at=T0 - 30)  # due first
    add(store, "3.1", "9.3", at=T0 + 50)  # still receiving at T0 + 10
    store.record_instance(receipt("4.1", at=T0))  # received, not placed in a study yet
    add(store, "5.1", "9.5", at=T0 - 100)
    store.claim_due_studies(T0 - 100 + QUIET, "node-a", 600, 10)  # 9.5 is being built: not settling
    waiting = store.open_paths(T0 + 10, 100)  # the study due first first; in a study, any order
    assert waiting[0] == ("/spool/2.1-d1.dcm", True)
    assert sorted(waiting[1:3]) == [("/spool/1.1-d1.dcm", True), ("/spool/1.2-d1.dcm", True)]
    assert waiting[3:] == [("/spool/3.1-d1.dcm", False)]  # received at T0 + 50: not quiet at T0 + 10
    assert store.open_paths(T0 + 10, 2) == waiting[:2]
    quiet_at_4 = [path for path, quiet in store.open_paths(T0 + 4, 100) if quiet]
    assert quiet_at_4 == ["/spool/2.1-d1.dcm"]  # 9.1 had an arrival at T0 + 5


def test_expired_leases_are_released(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    store.claim_due_studies(T0 + 100, "node-a", 60, 10)
    assert store.release_expired_leases(T0 + 160) == 0  # lease_until == now: not yet expired
    assert store.release_expired_leases(T0 + 161) == 1
    study = store.study("9.1")
    assert study is not None
    assert (study.state, study.lease_owner, study.lease_until, study.due_at) == (
        StudyState.OPEN, None, None, T0 + QUIET)
    claim, = store.claim_due_studies(T0 + 162, "node-b", 60, 10)
    with pytest.raises(StoreError, match="lease lost"):
        store.complete_study("9.1", "node-a", 1, 1, "digest-late", T0 + 163)
    store.complete_study("9.1", "node-b", claim.revision, claim.generation, "digest-1", T0 + 164)


def test_lease_lost(store: StateStore) -> None:
    add(store, "1.1", "9.1")
    with pytest.raises(StoreError, match="lease lost"):  # OPEN: nobody holds it
        store.complete_study("9.1", "node-a", 1, 1, "x", T0 + 100)
    with pytest.raises(StoreError, match="lease lost"):
        store.fail_study("no.such.study", "node-a", "x", T0 + 100)
    store.claim_due_studies(T0 + 100, "node-a", 60, 10)
    with pytest.raises(StoreError, match="lease lost"):
        store.complete_study("9.1", "node-b", 1, 1, "x", T0 + 101)
    with pytest.raises(StoreError, match="lease lost"):
        store.fail_study("9.1", "node-b", "x", T0 + 500)
    study = store.study("9.1")
    assert study is not None and (study.state, study.lease_owner) == (StudyState.BUILDING, "node-a")


# -- queries -----------------------------------------------------------------------------------------------------


def test_unknown_paths(store: StateStore) -> None:
    known = [f"/spool/{n:04d}.dcm" for n in range(1_200)]  # more than two chunks of 500
    for n, path in enumerate(known):
        store.record_instance(receipt(f"1.{n}", path=path))
    strays = {"/spool/stray-1.dcm", "/spool/../x", "/spool/9999.dcm"}
    assert store.unknown_paths([*known, *strays, *strays]) == strays
    assert store.unknown_paths(iter(known)) == set()
    assert store.unknown_paths([]) == set()


def test_counts_and_listing(store: StateStore) -> None:
    store.record_instance(receipt("1.0", at=T0 + 90))  # unparsed, but received after the due studies' due_at
    add(store, "1.1", "9.2")
    add(store, "1.2", "9.1")
    add(store, "1.3", "9.3", at=T0 + 5000)
    assert len(store.claim_due_studies(T0 + 100, "node-a", 60, 1)) == 1  # 9.1 and 9.2 are due: one is claimed
    assert store.counts() == QueueCounts(unparsed=1, open_studies=2, building_studies=1)
    assert [s.study_instance_uid for s in store.studies()] == ["9.1", "9.2", "9.3"]
    assert store.study("9.9") is None and store.instance("1.9") is None and store.instances_of("9.9") == []


# -- opening, schema versions, failures ------------------------------------------------------------------------


def test_schema_version_is_recorded(store: StateStore, store_url: str) -> None:
    assert store.schema_version() == STORE_SCHEMA_VERSION
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).scalars().all() == [STORE_SCHEMA_VERSION]
            assert conn.execute(text("SELECT count(*) FROM instances")).scalar_one() == 0
            assert {"instances", "studies", "schema_version"} <= set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_reopening_keeps_the_data(store: StateStore, store_url: str) -> None:
    add(store, "1.1", "9.1")
    store.close()
    with open_store(store_url) as again:
        assert again.schema_version() == STORE_SCHEMA_VERSION
        study = again.study("9.1")
        assert study is not None and study.instance_count == 1
    with open_store(store_url, fresh=True) as emptied:
        assert emptied.studies() == [] and emptied.instance("1.1") is None


def test_upgrade_steps_run_in_order_and_a_newer_database_is_refused(store: StateStore, store_url: str) -> None:
    add(store, "1.1", "9.1")
    store.close()
    applied: list[int] = []

    def add_column(conn: Connection) -> None:
        applied.append(STORE_SCHEMA_VERSION + 1)
        conn.execute(text("ALTER TABLE studies ADD COLUMN note TEXT"))

    def fill_column(conn: Connection) -> None:
        applied.append(STORE_SCHEMA_VERSION + 2)
        conn.execute(text("UPDATE studies SET note = 'upgraded'"))

    def broken(conn: Connection) -> None:
        conn.execute(text("UPDATE studies SET note = 'half-done'"))
        raise RuntimeError("step failed")

    steps = [*STEPS, Step(STORE_SCHEMA_VERSION + 1, "add note", add_column),
             Step(STORE_SCHEMA_VERSION + 2, "fill note", fill_column)]
    engine = create_engine(store_url)
    try:
        assert ensure_schema(engine, steps) == STORE_SCHEMA_VERSION + 2
        assert applied == [STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION + 2]
        assert ensure_schema(engine, steps) == STORE_SCHEMA_VERSION + 2  # nothing left to do
        assert len(applied) == 2
        with pytest.raises(RuntimeError, match="step failed"):  # a failing step changes nothing
            ensure_schema(engine, [*steps, Step(STORE_SCHEMA_VERSION + 3, "broken", broken)])
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).scalar_one() == STORE_SCHEMA_VERSION + 2
            assert conn.execute(text("SELECT study_instance_uid, note FROM studies")).all() == [("9.1", "upgraded")]
    finally:
        engine.dispose()

    newer = STORE_SCHEMA_VERSION + 2
    try:
        with pytest.raises(StoreError, match=rf"schema version {newer}, newer than the {STORE_SCHEMA_VERSION} "):
            open_store(store_url)
    finally:
        open_store(store_url, fresh=True).close()  # leave no newer-than-the-code database behind


def test_a_postgresql_server_that_does_not_answer_raises_store_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError, match="^state store: open: "):
        open_store(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")


def test_an_unusable_sqlite_path_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file")
    with pytest.raises(StoreError, match="^state store: open: "):
        open_store(default_sqlite_url(blocker / "data"))
    with pytest.raises(StoreError, match="unsupported database"):
        open_store("mysql://localhost/test")
    with pytest.raises(StoreError, match="^state store: open: "):
        open_store("not a url")


def test_default_sqlite_url_creates_the_data_directory(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path / "data" / "nested")
    assert url == f"sqlite:///{tmp_path}/data/nested/state.db"
    with open_store(url) as store:
        add(store, "1.1", "9.1")
    assert (tmp_path / "data" / "nested" / "state.db").is_file()
    with open_store(url) as store:
        assert store.instance("1.1") is not None


def test_mark_parsed_many_places_a_batch_and_times_each_study_once(store: StateStore) -> None:
    for index, at in enumerate((T0, T0 + 5, T0 + 10)):
        store.record_instance(receipt(f"1.{index}", at=at))
    store.record_instance(receipt("2.0", at=T0 + 1))
    store.record_instance(receipt("3.0", at=T0 + 2, digest="current"))
    batch = [
        ("1.0", "d1", Identity("9.1", "9.1.1"), TIMING),
        ("1.1", "d1", Identity("9.1", "9.1.1"), TIMING),
        ("1.2", "d1", Identity("9.1", "9.1.2"), TIMING),
        ("2.0", "d1", Identity("9.2", "9.2.1"), Timing(quiet_period=1.0, max_age=MAX_AGE)),
        ("3.0", "stale", Identity("9.3", "9.3.1"), TIMING),  # a newer copy replaced it: not placed
    ]
    assert store.mark_parsed_many(batch, now=T0 + 20) == 4
    first, second = store.studies()
    assert (first.study_instance_uid, first.state, first.instance_count) == ("9.1", StudyState.OPEN, 3)
    assert (first.first_arrival, first.last_arrival, first.due_at) == (T0, T0 + 10, T0 + 10 + QUIET)
    assert (second.study_instance_uid, second.due_at) == ("9.2", T0 + 1 + 1.0)
    assert [i.series_instance_uid for i in store.instances_of("9.1")] == ["9.1.1", "9.1.1", "9.1.2"]
    stale = store.instance("3.0")
    assert stale is not None and stale.state is InstanceState.RECEIVED
    assert store.mark_parsed_many(batch, now=T0 + 21) == 0  # already placed: nothing changes
    assert store.studies()[0].generation == first.generation
