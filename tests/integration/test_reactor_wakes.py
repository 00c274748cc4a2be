"""An association's reactor sleeps until something it looks at happens (pynetdicom_tuning, change 3).

pynetdicom's association loop looks at its queues every millisecond. The listener's waits on its message queue and
is woken by a message, a release or abort request from the peer, the end of the connection, a local abort, and a
requestor's pause before each send; only its timers are looked at every REACTOR_IDLE_WAIT. Each test below makes
that fallback 30 s, so a wake that went missing shows as a test that waits out the fallback and fails.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification

from bridge.ingest import pynetdicom_tuning as tuning
from bridge.service.harness import Bridge
from tests.conftest import SAMPLE_DICOM

FILES = sorted((SAMPLE_DICOM / "ct-chest" / "series-1").glob("*.dcm"))[:3]
FALLBACK = 30.0  # REACTOR_IDLE_WAIT in the tests that need a wake
IDLE_WAKES = 60  # at most, in one second of an idle association: its timers are looked at every 20 ms
PROMPT = 5.0  # seconds within which a woken reactor has done its work, on a loaded machine too


def _acceptors() -> list[Association]:
    return [t for t in threading.enumerate() if isinstance(t, Association) and t.is_acceptor and t.is_alive()]


def _associate(bridge: Bridge) -> Association:
    ae = AE(ae_title="HARNESS")
    ae.add_requested_context(Verification)
    ds = dcmread(FILES[0], stop_before_pixels=True)
    ae.add_requested_context(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
    assoc = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
    assert assoc.is_established
    deadline = time.monotonic() + PROMPT
    while not _acceptors() and time.monotonic() < deadline:
        time.sleep(0.01)
    return assoc


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    with Bridge.running(tmp_path / "bridge") as running:
        yield running


@pytest.fixture
def slow_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tuning, "REACTOR_IDLE_WAIT", FALLBACK)


def test_an_idle_association_wakes_its_reactor_only_for_its_timers(bridge: Bridge,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: Counter[str] = Counter()
    original = tuning._ReactorClock.sleep

    def counting(self: tuning._ReactorClock, seconds: float) -> None:
        thread = threading.current_thread()
        if isinstance(thread, Association) and thread.is_acceptor:
            sleeps[thread.name] += 1
        original(self, seconds)

    monkeypatch.setattr(tuning._ReactorClock, "sleep", counting)
    assoc = _associate(bridge)
    try:
        before = sum(sleeps.values())
        time.sleep(1.0)
        idle = sum(sleeps.values()) - before
    finally:
        assoc.release()
    assert len(sleeps) == 1
    assert 0 < idle <= IDLE_WAKES, idle  # pynetdicom's loop: about a thousand


def _release(assoc: Association) -> None:
    assoc.release()


def _abort(assoc: Association) -> None:
    assoc.abort()


def _drop_connection(assoc: Association) -> None:
    assert assoc.dul.socket is not None and assoc.dul.socket.socket is not None
    connection = assoc.dul.socket.socket
    connection.shutdown(2)  # the peer vanishes without a word: the acceptor's DUL reads the end
    assoc.abort()
    connection.close()


@pytest.mark.usefixtures("slow_fallback")
@pytest.mark.parametrize("end", [_release, _abort, _drop_connection], ids=["release", "abort", "connection closed"])
def test_the_peer_ending_an_association_wakes_the_reactor(bridge: Bridge, end: Callable[[Association], None]) -> None:
    assoc = _associate(bridge)
    (acceptor,) = _acceptors()
    time.sleep(0.2)  # the reactor is asleep now
    started = time.monotonic()
    end(assoc)
    acceptor.join(FALLBACK + 5)
    assert not acceptor.is_alive()
    assert time.monotonic() - started < PROMPT


@pytest.mark.usefixtures("slow_fallback")
def test_a_local_abort_wakes_the_reactor(bridge: Bridge) -> None:
    assoc = _associate(bridge)
    (acceptor,) = _acceptors()
    time.sleep(0.2)
    started = time.monotonic()
    threading.Thread(target=acceptor.abort).start()  # as the listener does when its stop grace is over
    acceptor.join(FALLBACK + 5)
    assert not acceptor.is_alive()
    assoc.join(PROMPT)  # the requestor, woken by the A-ABORT its DUL received
    assert time.monotonic() - started < PROMPT
    assert assoc.is_aborted and not assoc.is_alive()


@pytest.mark.usefixtures("slow_fallback")
def test_a_requestors_sends_wake_its_own_reactor_to_pause_it(bridge: Bridge) -> None:
    assoc = _associate(bridge)  # the requestor's association runs the same reactor loop, in this process
    statuses = []
    started = time.monotonic()
    try:
        for path in FILES:
            time.sleep(0.1)  # the reactor is asleep when the send pauses it
            statuses.append(int(assoc.send_c_store(path).Status))
        statuses.append(int(assoc.send_c_echo().Status))
    finally:
        assoc.release()
    assert time.monotonic() - started < PROMPT + 0.1 * len(FILES)
    assert statuses == [0x0000] * (len(FILES) + 1)
    bridge.wait_idle(timeout=60)
    uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in FILES}
    assert {uid for uid in uids if bridge.service.store.instance(uid) is not None} == uids  # type: ignore[union-attr]
