"""A C-STORE/C-ECHO client: what `dicom-bridge send` and the test harness use to talk to a listener."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from bridge.errors import ServiceError
from bridge.ingest.scp import set_tcp_nodelay

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
) -> list[Sent]:
    """C-STORE every file over one association (per 128 SOP Class/Transfer Syntax pairs); one Sent per path, in
    the order given.

    Files that are not DICOM, or whose SOP Class the peer does not accept, get status -1 with the reason.
    ``connect_timeout`` retries a refused connection that long (a listener still starting).

    Raises:
        ServiceError: no association could be made, or it was rejected or aborted.
    """
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
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    assoc = _associate(ae, host, port, called_ae, 0.0)
    try:
        return int(assoc.send_c_echo().get("Status", -1))
    finally:
        assoc.release()


def _associate(ae: AE, host: str, port: int, called_ae: str, connect_timeout: float) -> object:
    deadline = time.monotonic() + connect_timeout
    handlers = [(evt.EVT_CONN_OPEN, set_tcp_nodelay)]
    while True:
        assoc = ae.associate(host, port, ae_title=called_ae, evt_handlers=handlers)
        if assoc.is_established:
            return assoc
        if assoc.is_rejected:
            rejection = assoc.acceptor.primitive
            reason = rejection.reason_str if rejection is not None else "no reason given"
            raise ServiceError(f"{called_ae} at {host}:{port} rejected the association: {reason}")
        if time.monotonic() >= deadline:
            raise ServiceError(f"no association with {called_ae} at {host}:{port} (refused, aborted or timed out)")
        time.sleep(0.2)
