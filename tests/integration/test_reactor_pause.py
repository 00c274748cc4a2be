"""A requestor's C-STOREs on one association when its reactor thread runs late (a loaded machine).

pynetdicom pauses the association's reactor while a send_* method waits for its response. With its own checkpoint
(a ``threading.Event``) a send that follows another at once can find the pause flag still set by the reactor it
just released; a reactor that then runs late takes the response off the queue, and the send waits out its DIMSE
timeout. The bridge's checkpoint (``reliable_reactor_pause``) closes that window; the first test shows the window
is real, so that the second one can fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pynetdicom import AE, evt

from bridge.ingest.pynetdicom_tuning import _ReactorCheckpoint
from bridge.ingest.scp import set_tcp_nodelay
from bridge.service.harness import Bridge
from tests.conftest import SAMPLE_DICOM

FILES = sorted((SAMPLE_DICOM / "ct-chest" / "series-1").glob("*.dcm"))[:6]
LATE = 0.2  # seconds the reactor thread runs late after it was released (a response arrives well within it)
SLOW = 0.4  # seconds the sending thread runs late after sending a request, before it waits for the response


class _RunsLate:
    """A checkpoint whose reactor runs LATE seconds after being released."""

    def wait(self, timeout: float | None = None) -> bool:
        held = not self.is_set()  # type: ignore[attr-defined]
        result: bool = super().wait(timeout)  # type: ignore[misc]
        if held:
            time.sleep(LATE)
        return result


class _LateEvent(_RunsLate, threading.Event):
    """pynetdicom's checkpoint, run late."""


class _LateCheckpoint(_RunsLate, _ReactorCheckpoint):
    """The bridge's checkpoint, run late."""


def _send_on_one_association(bridge: Bridge, checkpoint: Callable[[Any], object]) -> list[int | None]:
    """C-STORE FILES back to back on one association whose reactor runs late, and whose sending thread is slow to
    wait for each response; each response's status (None: the response never reached the send, which gave up after
    its DIMSE timeout)."""
    ae = AE(ae_title="HARNESS")
    ae.dimse_timeout = 3
    ae.add_requested_context(str(dcmread(FILES[0], stop_before_pixels=True).SOPClassUID),
                             str(dcmread(FILES[0], stop_before_pixels=True).file_meta.TransferSyntaxUID))
    assoc = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title,
                         evt_handlers=[(evt.EVT_CONN_OPEN, set_tcp_nodelay)])
    assert assoc.is_established
    assoc._reactor_checkpoint = checkpoint(assoc)
    send_msg = assoc.dimse.send_msg

    def slow_send_msg(primitive: object, context_id: int) -> None:
        send_msg(primitive, context_id)
        time.sleep(SLOW)

    assoc.dimse.send_msg = slow_send_msg
    statuses: list[int | None] = []
    try:
        for path in FILES:
            if not assoc.is_established:
                break
            status = assoc.send_c_store(path)
            statuses.append(int(status.Status) if "Status" in status else None)
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


def test_with_pynetdicoms_checkpoint_a_late_reactor_takes_a_response(tmp_path: Path) -> None:
    with Bridge.running(tmp_path / "bridge") as bridge:
        statuses = _send_on_one_association(bridge, lambda assoc: _LateEvent())
    # The second send proceeded while the released reactor was still to look at the queue: the reactor took its
    # response before the send waited for it.
    assert statuses[0] == 0x0000
    assert statuses[1] is None, statuses


def test_with_the_bridges_checkpoint_every_response_reaches_its_send(tmp_path: Path) -> None:
    with Bridge.running(tmp_path / "bridge") as bridge:
        statuses = _send_on_one_association(bridge, _LateCheckpoint)
        bridge.wait_idle(timeout=60)
        uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in FILES}
        assert {uid for uid in uids if bridge.service.store.instance(uid) is not None} == uids  # type: ignore[union-attr]
    assert statuses == [0x0000] * len(FILES)
