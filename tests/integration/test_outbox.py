"""The delivery queue (outbox) on SQLite and PostgreSQL: queued with the seal, leased, retried, dead-lettered,
replayed, superseded by newer revisions; and the schema upgrade that adds it."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from bridge.store import DeliveryState, StateStore, open_store
from bridge.store.migrations import STEPS, ensure_schema
from tests.integration.test_store import T0, add, in_threads

STUDY = "1.2.3"
SINKS = ("hospital", "national")


def seal(store: StateStore, revision_instances: int = 1, *, owner: str = "node-a", at: float = T0) -> int:
    """Receive, parse and build the study once more; returns the revision sealed (queued for both sinks)."""
    add(store, f"{STUDY}.{revision_instances}.{at}", STUDY, at=at)
    [claim] = store.claim_due_studies(at + 10_000, owner, 60.0, 1)
    store.complete_study(STUDY, owner, claim.revision, claim.generation, "digest", at + 10_000, sinks=SINKS,
                         payload=f"/outbox/{STUDY}/revision-{claim.revision}.json")
    return claim.revision


def test_sealing_queues_one_delivery_per_sink_in_the_same_transaction(store: StateStore) -> None:
    revision = seal(store)
    rows = store.deliveries_of(STUDY)
    assert [(d.sink, d.revision, d.state, d.attempts) for d in rows] == [
        ("hospital", revision, DeliveryState.PENDING, 0), ("national", revision, DeliveryState.PENDING, 0),
    ]
    claims = store.claim_due_deliveries(T0 + 20_000, "node-a", 60.0, 10, SINKS)
    assert sorted(c.sink for c in claims) == ["hospital", "national"]
    assert claims[0].payload == f"/outbox/{STUDY}/revision-{revision}.json"


def test_a_claimed_delivery_is_not_claimed_twice_until_its_lease_ends(store: StateStore) -> None:
    seal(store)
    now = T0 + 20_000
    first = store.claim_due_deliveries(now, "node-a", 60.0, 10, ("hospital",))
    assert len(first) == 1
    assert store.claim_due_deliveries(now + 1, "node-b", 60.0, 10, ("hospital",)) == []
    taken_over = store.claim_due_deliveries(now + 61, "node-b", 60.0, 10, ("hospital",))
    assert [c.delivery_id for c in taken_over] == [first[0].delivery_id]
    assert store.delivery_succeeded(first[0].delivery_id, "node-a", now + 62) is False  # lease lost
    assert store.delivery_succeeded(first[0].delivery_id, "node-b", now + 62) is True


def test_retry_then_dead_letter_then_replay(store: StateStore) -> None:
    seal(store)
    now = T0 + 20_000
    [claim] = store.claim_due_deliveries(now, "node-a", 60.0, 10, ("national",))
    assert store.delivery_failed(claim.delivery_id, "node-a", "HTTP 503", retry_at=now + 30)
    assert store.claim_due_deliveries(now + 29, "node-a", 60.0, 10, ("national",)) == []
    assert store.delivery_backlog(now + 29) == 1  # the hospital one is still due
    [again] = store.claim_due_deliveries(now + 31, "node-a", 60.0, 10, ("national",))
    assert again.attempts == 1
    assert store.delivery_failed(again.delivery_id, "node-a", "HTTP 400: OperationOutcome: error invalid", None)
    [dead] = store.dead_letters()
    assert (dead.delivery_id, dead.attempts, dead.last_error) == (claim.delivery_id, 2,
                                                                  "HTTP 400: OperationOutcome: error invalid")
    assert store.claim_due_deliveries(now + 10_000, "node-a", 60.0, 10, ("national",)) == []  # never retried
    requeued, superseded = store.replay([dead.delivery_id], now + 100)
    assert (requeued, superseded) == ([dead.delivery_id], [])
    [replayed] = store.claim_due_deliveries(now + 100, "node-a", 60.0, 10, ("national",))
    assert (replayed.delivery_id, replayed.attempts) == (dead.delivery_id, 0)
    assert store.dead_letters() == []


def test_a_newer_revision_supersedes_unsent_and_dead_older_ones(store: StateStore) -> None:
    first = seal(store)
    now = T0 + 20_000
    [claim] = store.claim_due_deliveries(now, "node-a", 60.0, 10, ("national",))
    store.delivery_failed(claim.delivery_id, "node-a", "HTTP 400", None)  # dead letter of revision 1
    second = seal(store, 2, at=T0 + 50_000)
    states = {(d.sink, d.revision): d.state for d in store.deliveries_of(STUDY)}
    assert states == {
        ("hospital", first): DeliveryState.SUPERSEDED, ("national", first): DeliveryState.SUPERSEDED,
        ("hospital", second): DeliveryState.PENDING, ("national", second): DeliveryState.PENDING,
    }
    assert store.replay(None, T0 + 60_000) == ([], [])  # nothing dead any more: superseded is final


def test_a_dead_letter_of_an_older_revision_is_never_sent_after_a_newer_one(store: StateStore) -> None:
    seal(store)
    now = T0 + 20_000
    [claim] = store.claim_due_deliveries(now, "node-a", 60.0, 10, ("national",))
    store.delivery_failed(claim.delivery_id, "node-a", "HTTP 400", None)
    assert store.replay([claim.delivery_id], now) == ([claim.delivery_id], [])
    [again] = store.claim_due_deliveries(now, "node-a", 60.0, 10, ("national",))
    store.delivery_failed(again.delivery_id, "node-a", "HTTP 400", None)
    second = seal(store, 2, at=T0 + 50_000)
    [newer] = [c for c in store.claim_due_deliveries(T0 + 70_000, "node-a", 60.0, 10, ("national",))]
    assert newer.revision == second
    assert store.delivery_succeeded(newer.delivery_id, "node-a", T0 + 70_001)
    assert store.replay([claim.delivery_id], T0 + 80_000) == ([], [])  # already superseded by the seal


def test_one_study_and_sink_is_sent_by_one_node_at_a_time(store: StateStore) -> None:
    seal(store)
    claims = in_threads(4, lambda i: store.claim_due_deliveries(T0 + 20_000, f"node-{i}", 60.0, 10, SINKS))
    taken = [c.delivery_id for batch in claims for c in batch]
    assert sorted(taken) == sorted(d.delivery_id for d in store.deliveries_of(STUDY))  # each exactly once


def test_a_version_1_store_is_upgraded_to_add_the_outbox(store_url: str) -> None:
    engine = create_engine(store_url)
    with open_store(store_url, fresh=True):
        pass
    with engine.begin() as conn:  # back to version 1: no deliveries table, no studies.warnings or summary
        conn.execute(text("DROP TABLE deliveries"))
        conn.execute(text("ALTER TABLE studies DROP COLUMN warnings"))
        conn.execute(text("ALTER TABLE studies DROP COLUMN summary"))
        conn.execute(text("UPDATE schema_version SET version = 1"))
    assert ensure_schema(engine, STEPS) == 4
    with engine.connect() as conn:
        assert "deliveries" in inspect(conn).get_table_names()
        assert {i["name"] for i in inspect(conn).get_indexes("deliveries")} >= {"ix_deliveries_state_due_at"}
        assert {"warnings", "summary"} <= {c["name"] for c in inspect(conn).get_columns("studies")}
    engine.dispose()
    with open_store(store_url) as upgraded:
        assert upgraded.schema_version() == 4
        assert upgraded.dead_letters() == []


def national(store: StateStore) -> dict[int, str]:
    return {d.revision: d.state.value for d in store.deliveries_of(STUDY) if d.sink == "national"}


def test_a_newer_revision_waits_while_an_older_one_is_in_flight(store: StateStore) -> None:
    seal(store)
    [first] = store.claim_due_deliveries(T0 + 20_000, "node-a", 100_000.0, 10, ("national",))
    second = seal(store, 2, at=T0 + 20_010)  # queued at T0 + 30_010
    # node-a is still sending revision 1: revision 2 is not handed to node-b before that ends
    assert store.claim_due_deliveries(T0 + 40_000, "node-b", 60.0, 10, ("national",)) == []
    assert national(store) == {1: "sending", 2: "pending"}
    assert store.delivery_succeeded(first.delivery_id, "node-a", T0 + 40_010)
    [newer] = store.claim_due_deliveries(T0 + 40_020, "node-b", 60.0, 10, ("national",))
    assert newer.revision == second
    assert national(store) == {1: "delivered", 2: "sending"}


def test_an_older_revision_whose_node_died_is_superseded_not_resent(store: StateStore) -> None:
    seal(store)
    [first] = store.claim_due_deliveries(T0 + 20_000, "node-a", 60.0, 10, ("national",))
    second = seal(store, 2, at=T0 + 20_010)
    # node-a died: its lease ended at T0 + 20_060; the newer revision goes, the older one never again
    [newer] = store.claim_due_deliveries(T0 + 40_000, "node-b", 60.0, 10, ("national",))
    assert newer.revision == second
    assert national(store) == {1: "superseded", 2: "sending"}
    assert not store.delivery_succeeded(first.delivery_id, "node-a", T0 + 40_001)  # its late answer is not recorded


def test_a_node_takes_up_its_own_leased_delivery_at_once(store: StateStore) -> None:
    """A pass whose result could not be recorded (store outage) leaves the node's own lease: the same node claims
    it again at once; another node still waits for the lease to end."""
    seal(store)
    now = T0 + 20_000
    [first] = store.claim_due_deliveries(now, "node-a", 600.0, 10, ("hospital",))
    assert store.claim_due_deliveries(now + 5, "node-b", 600.0, 10, ("hospital",)) == []
    [again] = store.claim_due_deliveries(now + 5, "node-a", 600.0, 10, ("hospital",))
    assert (again.delivery_id, again.attempts) == (first.delivery_id, 0)
    assert store.delivery_succeeded(again.delivery_id, "node-a", now + 6)
    assert [(d.state, d.attempts) for d in store.deliveries_of(STUDY) if d.sink == "hospital"] == [
        (DeliveryState.DELIVERED, 1)]


def test_a_newer_revision_goes_when_the_older_one_is_the_nodes_own_stale_lease(store: StateStore) -> None:
    seal(store)
    store.claim_due_deliveries(T0 + 20_000, "node-a", 100_000.0, 10, ("national",))
    second = seal(store, 2, at=T0 + 20_010)
    [newer] = store.claim_due_deliveries(T0 + 40_000, "node-a", 100_000.0, 10, ("national",))
    assert newer.revision == second
    assert national(store) == {1: "superseded", 2: "sending"}


def test_deliveries_in_flight_at_a_stop_are_pending_again_at_start_up(store: StateStore) -> None:
    seal(store)
    now = T0 + 20_000
    claimed = store.claim_due_deliveries(now, "node-a", 600.0, 10, SINKS)
    assert len(claimed) == 2
    assert store.release_delivery_leases() == 2
    assert {(d.sink, d.state) for d in store.deliveries_of(STUDY)} == {
        ("hospital", DeliveryState.PENDING), ("national", DeliveryState.PENDING)}
    taken = store.claim_due_deliveries(now + 1, "node-b", 600.0, 10, SINKS)  # long before node-a's lease ends
    assert sorted(c.delivery_id for c in taken) == sorted(c.delivery_id for c in claimed)
    assert not store.delivery_succeeded(claimed[0].delivery_id, "node-a", now + 2)  # the old lease is gone
    assert store.release_delivery_leases() == 2  # node-b's, as a new start-up would
