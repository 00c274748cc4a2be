"""A C-STORE/C-ECHO client: what `dicom-bridge send`, `dicom-bridge echo` and the test harness use to talk to
a listener."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info

from bridge.errors import ServiceError

if TYPE_CHECKING:
    from pynetdicom import AE

# pynetdicom is imported where it is used: `dicom-bridge serve` imports this module through the CLI, and its
# workers, forked at start, should not carry a DICOM network stack they never use.

MAX_CONTEXTS = 128  # presentation contexts one association may propose, PS3.8 9.3.2.2


@dataclass(frozen=True, slots=True)
class Sent:
    """The outcome of one C-STORE: the DIMSE status (-1 when none came back) and its comment."""

    path: Path
    status: int
    comment: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 0x0000


def send_files(
    paths: Sequence[Path],
    port: int,
    called_ae: str,
    calling_ae: str = "DICOM_BRIDGE_SCU",
    host: str = "127.0.0.1",
    progress: Callable[[int], None] | None = None,
    connect_timeout: float = 0.0,
    timeout: float | None = None,
) -> list[Sent]:
    """C-STORE every file over one association (per 128 SOP Class/Transfer Syntax pairs); one Sent per path, in
    the order given.

    Files that are not DICOM, or whose SOP Class the peer does not accept, get status -1 with the reason.
    ``connect_timeout`` retries a refused connection that long (a listener still starting); ``timeout`` (seconds)
    bounds connecting, the association and each DIMSE message (unset: pynetdicom's defaults).

    Raises:
        ServiceError: no association could be made, or it was rejected or aborted.
    """
    from pynetdicom import AE

    results: dict[int, Sent] = {}
    contexts: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    for index, path in enumerate(paths):
        try:
            meta = read_file_meta_info(path)
            key = (str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
        except (InvalidDicomError, AttributeError, OSError) as exc:
            results[index] = Sent(path, -1, f"not sent: {exc}")
            continue
        contexts.setdefault(key, []).append((index, path))
    keys = sorted(contexts)
    for start in range(0, len(keys), MAX_CONTEXTS):
        batch = keys[start : start + MAX_CONTEXTS]
        ae = AE(ae_title=calling_ae)
        if timeout is not None:
            _set_timeouts(ae, timeout)
        for sop_class, transfer_syntax in batch:
            ae.add_requested_context(sop_class, transfer_syntax)
        assoc = _associate(ae, host, port, called_ae, connect_timeout)
        accepted = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])) for cx in assoc.accepted_contexts}
        try:
            for key in batch:
                if key not in accepted:  # the peer refused this SOP class / transfer syntax pair
                    why = f"not sent: {called_ae} accepted no presentation context for SOP class {key[0]} in {key[1]}"
                    results.update((index, Sent(path, -1, why)) for index, path in contexts[key])
                    continue
                for index, path in contexts[key]:
                    status = assoc.send_c_store(dcmread(path))
                    if not assoc.is_established:
                        raise ServiceError(f"association to {called_ae} at {host}:{port} was aborted at {path}")
                    comment = str(status.ErrorComment) if "ErrorComment" in status else None
                    results[index] = Sent(path, int(status.get("Status", -1)), comment)
                    if progress is not None:
                        progress(len(results))
        finally:
            if assoc.is_established:
                assoc.release()
    return [results[index] for index in sorted(results)]


def echo(port: int, called_ae: str, calling_ae: str = "DICOM_BRIDGE_SCU", host: str = "127.0.0.1") -> int:
    """C-ECHO; returns the status.

    Raises:
        ServiceError: no association could be made, or it was rejected.
    """
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    assoc = _associate(ae, host, port, called_ae, 0.0)
    try:
        return int(assoc.send_c_echo().get("Status", -1))
    finally:
        assoc.release()


class EchoOutcome(StrEnum):
    """How a C-ECHO ended."""

    SUCCESS = "success"  # status 0x0000
    STATUS = "status"  # the peer answered with another status
    REJECTED = "rejected"  # the peer refused the association (A-ASSOCIATE-RJ)
    UNREACHABLE = "unreachable"  # no TCP connection: name not resolved, refused, timed out
    NO_ANSWER = "no answer"  # connected, but the association was aborted or not answered in time


@dataclass(frozen=True, slots=True)
class EchoResult:
    """One C-ECHO: its outcome, the DIMSE status (None without a response), why it failed, and the seconds from
    connecting to the response or the failure."""

    outcome: EchoOutcome
    status: int | None
    reason: str | None
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.outcome is EchoOutcome.SUCCESS


def echo_peer(
    host: str, port: int, called_ae: str, calling_ae: str = "DICOM_BRIDGE_SCU", timeout: float = 30.0
) -> EchoResult:
    """C-ECHO over a new association; every failure is returned, never raised.

    ``timeout`` (seconds) bounds connecting, the association negotiation and the C-ECHO response.
    """
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import Verification
    from pynetdicom.status import VERIFICATION_SERVICE_CLASS_STATUS

    from bridge.ingest.pynetdicom_tuning import reliable_reactor_pause
    from bridge.ingest.scp import set_tcp_nodelay

    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    _set_timeouts(ae, timeout)
    connected = threading.Event()

    def on_open(event: evt.Event) -> None:
        connected.set()
        set_tcp_nodelay(event)

    start = time.perf_counter()

    def result(outcome: EchoOutcome, status: int | None, reason: str | None) -> EchoResult:
        return EchoResult(outcome, status, reason, time.perf_counter() - start)

    reliable_reactor_pause()
    with _connection_errors() as errors:
        try:
            assoc = ae.associate(host, port, ae_title=called_ae, evt_handlers=[(evt.EVT_CONN_OPEN, on_open)])
        except OSError as exc:  # the host name does not resolve
            return result(EchoOutcome.UNREACHABLE, None, f"cannot connect: no address for {host!r} ({exc})")
    if assoc.is_rejected:
        return result(EchoOutcome.REJECTED, None, _rejection(assoc))
    if not assoc.is_established:
        if not connected.is_set():
            why = errors[-1] if errors else f"refused or no answer within {timeout:g} s"
            return result(EchoOutcome.UNREACHABLE, None, f"cannot connect: {why}")
        return result(EchoOutcome.NO_ANSWER, None,
                      f"connected, but the association was aborted or not accepted within {timeout:g} s")
    try:
        response = assoc.send_c_echo()
        if "Status" not in response:
            return result(EchoOutcome.NO_ANSWER, None, f"no C-ECHO response within {timeout:g} s (aborted)")
        status = int(response.Status)
        if status == 0x0000:
            return result(EchoOutcome.SUCCESS, status, None)
        known = VERIFICATION_SERVICE_CLASS_STATUS.get(status, ("", ""))[1]
        comment = str(response.ErrorComment) if "ErrorComment" in response else ""
        return result(EchoOutcome.STATUS, status, "; ".join(text for text in (known, comment) if text) or None)
    finally:
        if assoc.is_established:
            assoc.release()


def _rejection(assoc: object) -> str:
    """'Called AE title not recognised (permanent, by the service user)' from an A-ASSOCIATE-RJ."""
    rejection = assoc.acceptor.primitive  # type: ignore[attr-defined]
    if rejection is None:
        return "no reason given"
    kind = {1: "permanent", 2: "transient"}.get(rejection.result, f"result {rejection.result}")
    return f"{rejection.reason_str} ({kind}, by the {rejection.source_str.lower()})"


def _set_timeouts(ae: AE, timeout: float) -> None:
    ae.connection_timeout = timeout
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout


class _ConnectionErrorFilter(logging.Filter):
    """Keeps the OS error of a failed connection, which pynetdicom reports only in its log."""

    PREFIX = "TCP Initialisation Error: "

    def __init__(self, errors: list[str]) -> None:
        super().__init__()
        self.errors = errors

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(self.PREFIX):
            self.errors.append(message[len(self.PREFIX):])
        return True


@contextmanager
def _connection_errors() -> Iterator[list[str]]:
    """The connection errors pynetdicom logs while the block runs (empty when its transport logger is off)."""
    errors: list[str] = []
    logger = logging.getLogger("pynetdicom.transport")
    capture = _ConnectionErrorFilter(errors)
    logger.addFilter(capture)
    try:
        yield errors
    finally:
        logger.removeFilter(capture)


def _associate(ae: AE, host: str, port: int, called_ae: str, connect_timeout: float) -> object:
    from pynetdicom import evt

    from bridge.ingest.pynetdicom_tuning import reliable_reactor_pause
    from bridge.ingest.scp import set_tcp_nodelay

    deadline = time.monotonic() + connect_timeout
    handlers = [(evt.EVT_CONN_OPEN, set_tcp_nodelay)]
    reliable_reactor_pause()
    while True:
        try:
            assoc = ae.associate(host, port, ae_title=called_ae, evt_handlers=handlers)
        except OSError as exc:  # the host name does not resolve
            raise ServiceError(f"cannot resolve {host!r} ({called_ae}): {exc}") from exc
        if assoc.is_established:
            return assoc
        if assoc.is_rejected:
            rejection = assoc.acceptor.primitive
            reason = rejection.reason_str if rejection is not None else "no reason given"
            raise ServiceError(f"{called_ae} at {host}:{port} rejected the association: {reason}")
        if time.monotonic() >= deadline:
            raise ServiceError(f"no association with {called_ae} at {host}:{port} (refused, aborted or timed out)")
        time.sleep(0.2)
