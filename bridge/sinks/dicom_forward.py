"""The DICOM forward sink: C-STORE of a study revision's KOS manifest to a PACS, so the archive holds it beside
the images (mado.md §1). It is a queued delivery like the FHIR servers: same payload, same retries, same dead
letters and replay.

Outcomes follow the DIMSE status (PS3.4 B.2.3, PS3.7 C): success and warnings (0x0001, 0xB0xx) are done;
"out of resources" (0xA7xx), a refused or dropped connection and a transient association rejection are
retried; anything else (0xA9xx data set does not match SOP class, 0xCxxx cannot understand, a permanent
rejection, no accepted presentation context) is refused for good and dead-lettered with the peer's answer.
"""

from __future__ import annotations

import base64
import logging
import socket
from io import BytesIO
from typing import Any

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pynetdicom import AE, evt
from pynetdicom.sop_class import KeyObjectSelectionDocumentStorage

from bridge.ingest.pynetdicom_tuning import reliable_reactor_pause
from bridge.ingest.scp import set_tcp_nodelay
from bridge.settings import ForwardSettings
from bridge.sinks.outcome import Outcome

log = logging.getLogger(__name__)

DICOM_MIME = "application/dicom"


def kos_of(payload: dict[str, Any]) -> bytes | None:
    """The KOS manifest bytes the payload carries (its ``application/dicom`` Binary), or None."""
    for resource in payload.get("resources", ()):
        if resource.get("resourceType") == "Binary" and resource.get("contentType") == DICOM_MIME:
            return base64.b64decode(resource["data"])
    return None


class DicomForwardSink:
    """Sends the KOS manifest of each payload to one PACS by C-STORE."""

    def __init__(self, settings: ForwardSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        """Nothing held between deliveries: one association per delivery."""

    def send(self, payload: dict[str, Any]) -> Outcome:
        data = kos_of(payload)
        if data is None:
            return Outcome(True)  # this revision has no KOS manifest (manifest.kos off): nothing to forward
        s = self.settings
        try:
            dataset = dcmread(BytesIO(data))
        except (InvalidDicomError, ValueError) as exc:
            return Outcome(False, False, f"the KOS manifest in the payload cannot be read: {exc}")
        ae = AE(ae_title=s.calling_ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = s.timeout
        ae.add_requested_context(KeyObjectSelectionDocumentStorage, str(dataset.file_meta.TransferSyntaxUID))
        where = f"{s.ae_title} at {s.host}:{s.port}"
        try:  # pynetdicom leaves the socket of a refused connection open: find out first, with our own socket
            socket.create_connection((s.host, s.port), timeout=s.timeout).close()
        except OSError as exc:
            return Outcome(False, True, f"no association with {where}: {exc.strerror or exc}", requests=1)
        reliable_reactor_pause()
        assoc = ae.associate(s.host, s.port, ae_title=s.ae_title, evt_handlers=[(evt.EVT_CONN_OPEN, set_tcp_nodelay)])
        if assoc.is_rejected:
            rejection = assoc.acceptor.primitive
            reason = rejection.reason_str if rejection is not None else "no reason given"
            transient = rejection is not None and rejection.result == 0x02
            return Outcome(False, transient, f"{where} rejected the association: {reason}", requests=1)
        if not assoc.is_established:
            return Outcome(False, True, f"no association with {where} (refused, aborted or timed out)", requests=1)
        try:
            if not assoc.accepted_contexts:
                return Outcome(False, False, f"{where} accepts no Key Object Selection Document Storage", requests=1)
            status = assoc.send_c_store(dataset)
        finally:
            if assoc.is_established:
                assoc.release()
        code = int(status.get("Status", -1)) if status else -1
        comment = f" ({status.ErrorComment})" if status and "ErrorComment" in status else ""
        if code == 0x0000 or code == 0x0001 or 0xB000 <= code <= 0xBFFF:
            log.info("forwarded KOS manifest %s to %s (status 0x%04X)", dataset.SOPInstanceUID, where, code,
                     extra={"event": "manifest.forwarded", "sink": self.name})
            return Outcome(True, requests=1)
        if code == -1:
            return Outcome(False, True, f"{where} sent no C-STORE response (association aborted)", requests=1)
        transient = 0xA700 <= code <= 0xA7FF
        return Outcome(False, transient, f"{where} answered C-STORE with status 0x{code:04X}{comment}", requests=1)


__all__ = ["DicomForwardSink", "kos_of"]
