"""The DICOM listener: C-ECHO and C-STORE SCP that acknowledges an instance only once it is durable.

Received data sets are streamed by pynetdicom into a hashing temporary file under the data directory (see
pynetdicom_tuning), so a 500 MB instance never sits in memory; the handler checks that the bytes start like
a data set, then hands the file to the Intake (fsync, rename, record). Parsing happens later, in a worker:
nothing is decoded or re-encoded here.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynetdicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, _config, evt
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import Verification, register_uid, uid_to_service_class
from pynetdicom.transport import ThreadedAssociationServer

from bridge.errors import ServiceError, StoreError
from bridge.ingest.intake import Intake
from bridge.ingest.pynetdicom_tuning import (
    cheap_context_copies,
    direct_file_meta,
    direct_store_responses,
    discard_received_files,
    quiet_standard_handlers,
    read_whole_pdus,
    received_file_of,
    reliable_reactor_pause,
    shorten_polling,
    stream_received_data_sets_to,
)
from bridge.metrics import DiskReserve, Metrics
from bridge.model.common import uid_problem
from bridge.settings import ListenerSettings

log = logging.getLogger(__name__)

# C-STORE statuses, PS3.4 Table B.2-1 / GG.4-1
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
# A-ASSOCIATE-RJ (PS3.8 9.3.4): result, source, reason
REJECT_PERMANENT, REJECT_TRANSIENT = 0x01, 0x02
SOURCE_SERVICE_USER, SOURCE_PRESENTATION = 0x01, 0x03
REASON_CALLING_AE_NOT_RECOGNIZED, REASON_CALLED_AE_NOT_RECOGNIZED = 0x03, 0x07
REASON_LOCAL_LIMIT_EXCEEDED = 0x02  # with SOURCE_PRESENTATION (service-provider, presentation related)

_PREAMBLE_AND_PREFIX = 132


class ListenerError(ServiceError):
    """The listener could not start (port in use, bad TLS files)."""


@dataclass(frozen=True, slots=True)
class Peer:
    ae_title: str
    address: str
    port: int

    def __str__(self) -> str:
        return f"AE {self.ae_title} {self.address}"


class Listener:
    """A running C-ECHO/C-STORE SCP bound to the configured address."""

    def __init__(self, settings: ListenerSettings, intake: Intake, metrics: Metrics | None = None,
                 reserve: DiskReserve | None = None, fed: bool = False,
                 on_close: Callable[[], None] | None = None) -> None:
        self.settings = settings
        # fed: no socket of its own; connections accepted elsewhere are handed to it (hand()): the service's
        # dispatcher spreads them over several listener processes (bridge.service.listeners).
        self.fed = fed
        self.on_close = on_close  # called when a connection closes (the dispatcher counts open ones)
        self.intake = intake
        self.metrics = metrics or intake.metrics
        self.reserve = reserve
        self._server: ThreadedAssociationServer | None = None
        self._ae: AE | None = None
        self._networks = {
            title.strip(): tuple(ipaddress.ip_network(host, strict=False) for host in hosts)
            for title, hosts in settings.calling_ae_hosts.items()
        }
        self._allowed = {title.strip() for title in settings.allowed_calling_aets}

    @property
    def port(self) -> int:
        """The bound port (the one chosen by the system when the setting is 0; the setting's when fed)."""
        if self._server is None:
            raise RuntimeError("listener not started")
        return self.settings.port if self.fed else int(self._server.server_address[1])

    def hand(self, sock: socket.socket, address: tuple[str, int]) -> None:
        """Serve a connection accepted elsewhere (fed listeners), in a thread of its own, as if accepted here."""
        server = self._server
        if server is None:
            sock.close()
            return
        if server.ssl_context is not None:  # what AssociationServer.get_request does after accept()
            sock = server.ssl_context.wrap_socket(sock, server_side=True)
        server.process_request(sock, address)

    @property
    def busy(self) -> bool:
        """Whether any association is open."""
        return self.associations > 0

    @property
    def associations(self) -> int:
        """Associations open now."""
        return 0 if self._ae is None else len(self._ae.active_associations)

    def start(self) -> None:
        """Bind and serve in background threads.

        Raises:
            ListenerError: the address cannot be bound or the TLS files cannot be loaded.
        """
        stream_received_data_sets_to(self.intake.spool.tmp_dir)
        shorten_polling(self.settings.poll_delay)
        quiet_standard_handlers()
        read_whole_pdus()
        reliable_reactor_pause()
        direct_store_responses()
        direct_file_meta()
        cheap_context_copies()
        ae = AE(ae_title=self.settings.ae_title)
        ae.maximum_associations = self.settings.max_associations
        ae.maximum_pdu_size = self.settings.max_pdu_size
        ae.acse_timeout = self.settings.acse_timeout
        ae.dimse_timeout = self.settings.dimse_timeout
        ae.network_timeout = self.settings.network_timeout
        # The allowlist and the called-AE check are made in _on_requested, with the host check pynetdicom lacks.
        ae.require_called_aet = False
        transfer_syntaxes = list(ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification, transfer_syntaxes)
        for context in pynetdicom.AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, transfer_syntaxes)
        for uid in self.settings.extra_sop_classes:
            _register_storage_class(uid)
            ae.add_supported_context(uid, transfer_syntaxes)
        _config.UNRESTRICTED_STORAGE_SERVICE = self.settings.accept_unknown_sop_classes
        handlers = [
            (evt.EVT_CONN_OPEN, set_tcp_nodelay),
            (evt.EVT_CONN_OPEN, self._on_connection),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected_by_library),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_CONN_CLOSE, self._on_connection_closed),
        ]
        address = (self.settings.bind_address, self.settings.port)
        try:
            if self.fed:
                server = ae.make_server(address, ssl_context=self._ssl_context(), evt_handlers=handlers,
                                        server_class=_FedServer)
            else:
                server = ae.start_server(address, block=False, ssl_context=self._ssl_context(), evt_handlers=handlers)
        except (OSError, ssl.SSLError) as exc:
            raise ListenerError(f"listener: cannot listen on {address[0]}:{address[1]}: {exc}") from exc
        assert server is not None
        self._ae, self._server = ae, server
        if self.fed:  # the dispatcher that accepts logs listener.started
            log.debug("listener process %d ready for connections on port %d", os.getpid(), self.port)
            return
        log.info(
            "listening as %s on %s:%d%s",
            self.settings.ae_title,
            self.settings.bind_address,
            self.port,
            " (TLS)" if self.settings.tls.enabled else "",
            extra={"event": "listener.started", "port": self.port},
        )

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let running associations finish for ``grace`` seconds, then abort the rest."""
        server, ae = self._server, self._ae
        if server is None or ae is None:
            return
        if server.socket:
            server.socket.close()  # no new connections during the grace period
        if not self.fed:  # a fed server never ran serve_forever(): there is no loop to shut down
            server.shutdown()
        deadline = time.monotonic() + grace
        while ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)
        for assoc in ae.active_associations:
            log.warning(
                "aborting association with %s after %.0f s of shutdown grace",
                assoc.requestor.ae_title,
                grace,
                extra={"event": "association.aborted"},
            )
            assoc.abort()
        ae.shutdown()
        self._server = None
        log.info("listener stopped", extra={"event": "listener.stopped"})

    # ---------------------------------------------------------------- association handling

    def _ssl_context(self) -> ssl.SSLContext | None:
        tls = self.settings.tls
        if not tls.enabled:
            return None
        try:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.minimum_version = ssl.TLSVersion.TLSv1_2  # PS3.15 B.9 (BCP 195)
            assert tls.cert_file is not None and tls.key_file is not None
            context.load_cert_chain(tls.cert_file, tls.key_file)
            if tls.ca_file is not None:
                context.load_verify_locations(tls.ca_file)
            context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
            if tls.ca_file is None:
                context.verify_mode = ssl.CERT_NONE
        except (OSError, ssl.SSLError) as exc:
            raise ListenerError(f"listener.tls: cannot load certificate/key/CA: {exc}") from exc
        return _HandshakeInConnectionThread(context)  # type: ignore[return-value]

    def _on_connection_closed(self, event: evt.Event) -> None:
        removed = discard_received_files(event.assoc)
        if removed:
            log.warning("removed %d partly received data sets of an association that ended", removed,
                        extra={"event": "association.aborted"})
        if self.on_close is not None:
            self.on_close()

    def _on_connection(self, event: evt.Event) -> None:
        event.assoc.dul._run_loop_delay = self.settings.poll_delay  # see pynetdicom_tuning

    def _on_requested(self, event: evt.Event) -> None:
        """Refuse an association from an unknown calling AE, a wrong host or to another called AE, and any while
        the spool's disk is below its reserve (transient: the sender may try again later)."""
        assoc = event.assoc
        request = assoc.requestor.primitive
        calling = str(request.calling_ae_title).strip()
        called = str(request.called_ae_title).strip()
        address = str(assoc.requestor.address)
        result, source, reason, label = REJECT_PERMANENT, SOURCE_SERVICE_USER, 0, ""
        if self._allowed and calling not in self._allowed:
            reason, label = REASON_CALLING_AE_NOT_RECOGNIZED, "calling_ae"
            why = "calling AE not in allowed_calling_aets"
        elif calling in self._networks and not _address_in(address, self._networks[calling]):
            reason, label = REASON_CALLING_AE_NOT_RECOGNIZED, "calling_host"
            why = f"calling AE not allowed from {address}"
        elif self.settings.require_called_aet and called != self.settings.ae_title.strip():
            reason, label = REASON_CALLED_AE_NOT_RECOGNIZED, "called_ae"
            why = f"called AE {called!r} is not {self.settings.ae_title!r}"
        elif self.reserve is not None and (low := self.reserve.refusal()) is not None:
            result, source, reason, label, why = (REJECT_TRANSIENT, SOURCE_PRESENTATION, REASON_LOCAL_LIMIT_EXCEEDED,
                                                  "disk_reserve", low)
        if not reason:
            return
        self._count_rejection(calling, address, label, why)
        assoc.acse.send_reject(result, source, reason)
        assoc.kill()  # as pynetdicom's own rejections do: waits until the A-ASSOCIATE-RJ is on the wire

    def _on_rejected_by_library(self, event: evt.Event) -> None:
        """pynetdicom refused the association itself: max_associations reached (local limit exceeded)."""
        requestor = event.assoc.requestor
        self._count_rejection(str(requestor.ae_title).strip(), str(requestor.address), "max_associations",
                              f"max_associations ({self.settings.max_associations}) reached")

    def _count_rejection(self, calling: str, address: str, label: str, why: str) -> None:
        self.metrics.associations.labels(f"rejected_{label}").inc()
        log.warning(
            "refused association from %s at %s: %s",
            calling,
            address,
            why,
            extra={"event": "association.rejected", "calling_ae": calling, "peer": address, "reason": label},
        )

    def _on_accepted(self, event: evt.Event) -> None:
        requestor = event.assoc.requestor
        self.metrics.associations.labels("accepted").inc()
        log.info(
            "association from %s at %s:%s",
            requestor.ae_title,
            requestor.address,
            requestor.port,
            extra={"event": "association.accepted", "calling_ae": requestor.ae_title, "peer": requestor.address},
        )

    @staticmethod
    def _on_echo(event: evt.Event) -> int:
        return STATUS_SUCCESS

    def _on_store(self, event: evt.Event) -> int | Dataset:
        requestor = event.assoc.requestor
        peer = Peer(str(requestor.ae_title).strip(), str(requestor.address), int(requestor.port))
        request = event.request
        sop_class = str(request.AffectedSOPClassUID)
        sop_instance = str(request.AffectedSOPInstanceUID)
        path = Path(event.dataset_path)
        received = received_file_of(request)
        if received is not None and received.error is not None:  # disk full or I/O error while it arrived
            return self._refuse(STATUS_OUT_OF_RESOURCES, f"cannot store: spool: {received.error}", sop_instance, peer,
                                path)
        problem = _uid_problems(sop_class, sop_instance) or check_data_set_start(path)
        if problem is not None:
            return self._refuse(STATUS_CANNOT_UNDERSTAND, problem, sop_instance, peer, path)
        low = self.reserve.refusal() if self.reserve is not None else None
        if low is not None:
            return self._refuse(STATUS_OUT_OF_RESOURCES, low, sop_instance, peer, path)
        try:
            known = (received.size, received.hexdigest()) if received is not None else None
            self.intake.take(path, sop_class, sop_instance, str(peer), peer.ae_title, known)
        except StoreError as exc:  # the Intake left nothing behind
            return self._refuse(STATUS_OUT_OF_RESOURCES, f"cannot store: {exc}", sop_instance, peer, None)
        return STATUS_SUCCESS

    def _refuse(self, status: int, comment: str, sop_instance: str, peer: Peer, received: Path | None) -> Dataset:
        """A failure status with ``comment`` as Error Comment: logged, counted, the received file removed."""
        if received is not None:
            received.unlink(missing_ok=True)
        log.log(
            logging.WARNING if status == STATUS_CANNOT_UNDERSTAND else logging.ERROR,
            "refused instance %s from %s: %s",
            sop_instance,
            peer,
            comment,
            extra={"event": "instance.refused", "sop_instance_uid": sop_instance, "calling_ae": peer.ae_title,
                   "status": f"0x{status:04X}"},
        )
        self.metrics.instances_refused.labels(f"0x{status:04X}").inc()
        return _status(status, comment)


def skip_value_validation() -> None:
    """For a process that only receives: pydicom there encodes and decodes DIMSE command sets (data sets are moved
    as bytes), and checking each value's VR costs several percent of every C-STORE. Process-wide: call it only in
    a process that reads no DICOM itself (`serve`'s own process after its workers are forked, which keep pydicom's
    defaults so what they read still turns invalid values into findings; a listener process)."""
    from pydicom import config

    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE


class _FedServer(ThreadedAssociationServer):
    """An association server without a socket of its own: it neither binds nor listens, and serves the connections
    handed to it with process_request() (Listener.hand)."""

    def server_bind(self) -> None:
        pass

    def server_activate(self) -> None:
        pass


class _HandshakeInConnectionThread:
    """An SSLContext whose server sockets do their TLS handshake on first read, in the connection's own thread.

    pynetdicom wraps each accepted socket in its accept loop; a handshake there would let one client that
    connects and stays silent hold up every other connection. Deferred, it runs under the association's
    timeouts like any other read.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context

    def wrap_socket(self, sock: socket.socket, server_side: bool = True, **_: Any) -> ssl.SSLSocket:
        return self._context.wrap_socket(sock, server_side=server_side, do_handshake_on_connect=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def set_tcp_nodelay(event: evt.Event) -> None:
    """EVT_CONN_OPEN handler: pynetdicom leaves Nagle's algorithm on, and with delayed ACKs every C-STORE
    response would wait for the peer's ACK timer (tens of ms)."""
    sock = event.assoc.dul.socket
    if sock is not None and sock.socket is not None:
        sock.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _status(code: int, comment: str) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]  # LO, PS3.7 C.4.2.1.2
    return status


def _register_storage_class(uid: str) -> None:
    """Tell pynetdicom that a private SOP class is a storage class (it would otherwise have no service for it)."""
    if uid_to_service_class(uid) is not StorageServiceClass:
        register_uid(uid, f"PrivateStorage_{uid.replace('.', '_')}", StorageServiceClass)


def _uid_problems(sop_class: str, sop_instance: str) -> str | None:
    for name, value in (("Affected SOP Class UID", sop_class), ("Affected SOP Instance UID", sop_instance)):
        problem = uid_problem(value)
        if problem is not None:
            return f"{name} {problem}"
    return None


def _address_in(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def check_data_set_start(path: Path) -> str | None:
    """Why the received file cannot be a DICOM data set, or None; reads only the first bytes.

    The file is what pynetdicom wrote: preamble, 'DICM', file meta (with its group length), data set.
    """
    try:
        with open(path, "rb") as fp:
            head = fp.read(_PREAMBLE_AND_PREFIX + 12)
            if len(head) < _PREAMBLE_AND_PREFIX + 12:
                return "no file meta information"
            meta_length = struct.unpack("<I", head[_PREAMBLE_AND_PREFIX + 8 : _PREAMBLE_AND_PREFIX + 12])[0]
            meta = fp.read(meta_length)
            first = fp.read(8)
    except OSError as exc:
        return f"received data cannot be read back: {exc.strerror or exc}"
    if not first:
        return "the C-STORE request carries an empty data set"
    transfer_syntax = _meta_transfer_syntax(meta)
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        return None  # checked when inflated by the worker
    if len(first) < 8:
        return "the data set is shorter than one element"
    big = transfer_syntax == ExplicitVRBigEndian
    group, _element = struct.unpack(">HH" if big else "<HH", first[:4])
    if group < 0x0008 or group == 0xFFFE:
        return f"the data set does not start with a data element (tag group {group:04X})"
    if transfer_syntax != ImplicitVRLittleEndian and not (first[4:6].isalpha() and first[4:6].isupper()):
        return f"the data set is not encoded as its transfer syntax {transfer_syntax} says"
    return None


def _meta_transfer_syntax(meta: bytes) -> str:
    """Transfer Syntax UID (0002,0010) from explicit-VR little-endian file meta bytes."""
    marker = meta.find(b"\x02\x00\x10\x00UI")
    if marker < 0:
        return ImplicitVRLittleEndian
    length_bytes = meta[marker + 6 : marker + 8]
    if len(length_bytes) < 2:  # the group ends inside the element: as if it were absent
        return ImplicitVRLittleEndian
    length = struct.unpack("<H", length_bytes)[0]
    return meta[marker + 8 : marker + 8 + length].rstrip(b"\x00 ").decode("ascii", "replace")


__all__ = ["Listener", "ListenerError", "Peer", "check_data_set_start", "set_tcp_nodelay"]
