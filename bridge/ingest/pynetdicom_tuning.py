"""How the listener adjusts pynetdicom's receive path; each change is process-wide in pynetdicom.

1. ``STORE_RECV_CHUNKED_DATASET``: C-STORE data sets are written to a file as their fragments arrive,
   never assembled in memory (a 500 MB instance costs no 500 MB).
2. That file is created in the data directory's tmp/ (same file system as the spool: committing it is a
   rename) and hashes what is written to it, so the SHA-256 is ready when the last fragment lands: the
   acknowledgement path does not read the file again. Large files also start their writeback every
   128 KB (``sync_file_range``), so the fsync that precedes the acknowledgement has little left to write.
3. pynetdicom's association loop sleeps 1 ms before every look at its queue, and its DUL loop 1 ms when
   idle: about 2 ms of waiting in every C-STORE, and a thousand wake-ups a second in each of an idle
   association's two threads (4 % of a core per association, each wake-up competing for the interpreter lock
   with the associations that do work). The association loop now waits on its queue and is woken by what it
   looks at after its sleep: a message, a release or abort request, a pause, the end of its DUL; the
   DUL loop waits on its socket (woken by the peer's bytes) and on an eventfd that its queues signal (woken by
   a reply to send). Both look at their timers every 20 ms: an idle association costs next to no CPU, so
   concurrent ones scale.
4. pynetdicom's standard event handlers describe every PDU and DIMSE message for its log; unless its
   logger is at DEBUG (``-vv``) they are not bound (``LOG_HANDLER_LEVEL = "none"``).
5. pynetdicom reads a PDU in 4 KB recv() calls appended to a bytearray; it is read into one buffer of the
   PDU's size instead (``recv_into``): about 10 % more large instances per second.
6. A requestor's send_c_store() (and the other send_* methods) pauses the association's reactor so that the
   reactor does not take the response off the queue. pynetdicom's pause flag stays set after the reactor was
   released: a send that follows another at once believes the reactor paused while it is about to look at the
   queue, and if the reactor thread is slow to run (a loaded machine) it takes the response, and the send waits
   out its DIMSE timeout and aborts. The checkpoint now keeps the reactor held across a release that is taken
   back at once, and the flag is true only while the reactor is held (``reliable_reactor_pause``).
7. pynetdicom builds each response's Command Set as a pydicom Dataset and encodes it (0.2 ms of a 39 KB
   instance's 2.6 ms). A C-STORE response with no Error Comment or Offending Element, valid UIDs and nobody
   listening for EVT_DIMSE_SENT is encoded directly, to the same bytes, in one PDV (``direct_store_responses``).
8. pynetdicom writes the File Meta Information before each received data set through a pydicom Dataset (0.2 ms
   of CPU per instance in the thread that reads the network). With plain UIDs it is encoded directly, to the
   same bytes (``direct_file_meta``).
9. pynetdicom's association server deep-copies the supported presentation contexts for every association it
   accepts: 42 ms of CPU for the listener's 171 contexts of 45 transfer syntaxes each, most of the 60 ms an
   association costs, which a sender opening an association per instance pays for every instance. The copies are
   made field by field instead (``cheap_context_copies``).

Re-check all nine when pynetdicom is upgraded: they rely on its module layout (measured with 3.0.4).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import logging
import os
import queue
import select
import struct
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from copy import deepcopy as _deepcopy
from pathlib import Path
from typing import IO, Any

from pynetdicom import _config
from pynetdicom import association as _association_module
from pynetdicom import dimse as _dimse_module
from pynetdicom import dimse_messages as _dimse_messages
from pynetdicom import dimse_primitives as _dimse_primitives
from pynetdicom import dsutils as _dsutils
from pynetdicom import dul as _dul_module
from pynetdicom import evt as _evt
from pynetdicom import pdu_primitives as _pdu_primitives
from pynetdicom import presentation as _presentation_module
from pynetdicom import transport as _transport_module


class ReceivedFile:
    """A temporary file that keeps the SHA-256 and size of everything written to it.

    A write that fails (disk full, I/O error) never reaches pynetdicom, whose reactor thread would die of it, leaving
    the C-STORE unanswered and this file behind: the failure is kept in ``error``, the file emptied (its space given
    back) and the rest of the data set dropped as it arrives; the listener then answers 0xA700 and removes the file.
    """

    def __init__(self, folder: Path) -> None:
        descriptor, self.name = _new_part_file(folder)
        self._file = open(descriptor, "wb")  # noqa: SIM115 - closed by close(), or when pynetdicom drops it
        self.error: str | None = None  # why the data set could not be written
        self._sha256 = hashlib.sha256()
        self.size = 0
        self._writeback_from = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.error is None:
            try:
                self._sha256.update(data)
                self.size += len(data)
                self._file.write(data)
                if self.size - self._writeback_from >= WRITEBACK_CHUNK:
                    self._start_writeback()
            except OSError as exc:
                self._failed(exc)
        return len(data)

    @property
    def file(self) -> ReceivedFile:
        """What pynetdicom calls ``.file.flush()`` on after each fragment: this file (a property, not an attribute
        referring to itself, so that a file pynetdicom drops without closing is freed, and closed, at once)."""
        return self

    def flush(self) -> None:
        if self.error is None:
            try:
                self._file.flush()
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.error = exc.strerror or str(exc)
        try:
            os.ftruncate(self._file.fileno(), 0)
        except OSError:
            pass

    def _start_writeback(self) -> None:
        """Have the kernel start writing what arrived so far, so the fsync that acknowledges the instance finds
        most of a large file already on disk (the disk works while the network still delivers)."""
        self._file.flush()
        _sync_file_range(self._file.fileno(), self._writeback_from, self.size - self._writeback_from)
        self._writeback_from = self.size

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as exc:  # what was still buffered could not be written
            if self.error is None:
                self.error = exc.strerror or str(exc)

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()

    def __getattr__(self, name: str) -> Any:  # tell(), seek() etc. as pydicom's writer may use them
        return getattr(self._file, name)


_part_numbers = itertools.count()


def _new_part_file(folder: Path) -> tuple[int, str]:
    """A new, empty receive file in ``folder``, named by this process and a counter (a name once taken, by a
    process of the same id before a restart, is skipped): (descriptor, path)."""
    while True:
        name = os.path.join(folder, f"rx-{os.getpid()}-{next(_part_numbers)}.part")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), name
        except FileExistsError:
            continue


WRITEBACK_CHUNK = 128 * 1024
_SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of dirty pages in the range, do not wait


def _load_sync_file_range() -> Callable[[int, int, int], None]:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return lambda fd, offset, length: None  # not Linux: the fsync at the end does all the work
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)

    def start(fd: int, offset: int, length: int) -> None:
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # a failure here only means the fsync does more

    return start


_sync_file_range = _load_sync_file_range()


def received_file_of(request: object) -> ReceivedFile | None:
    """The ReceivedFile pynetdicom streamed a C-STORE request's data set into, if it is one."""
    handle = getattr(request, "_dataset_file", None)
    return handle if isinstance(handle, ReceivedFile) else None


_received_by_association: weakref.WeakKeyDictionary[Any, list[tuple[str, weakref.ref[ReceivedFile]]]] = (
    weakref.WeakKeyDictionary())
_received_lock = threading.Lock()


def discard_received_files(assoc: object) -> int:
    """Remove what an ended association left in its receive files: data sets it never completed, or that
    pynetdicom could not hand to the listener (an undecodable command aborts the association). A completed
    instance's file was renamed into the spool by then; returns how many were removed."""
    with _received_lock:
        files = _received_by_association.pop(assoc, [])
    removed = 0
    for name, ref in files:
        received = ref()
        if received is not None:
            received.close()
        try:
            os.unlink(name)
            removed += 1
        except FileNotFoundError:
            continue
    return removed


def stream_received_data_sets_to(folder: Path) -> None:
    """Changes 1 and 2: stream C-STORE data sets into hashing files in ``folder``."""
    _config.STORE_RECV_CHUNKED_DATASET = True

    def factory(*_args: Any, **_kwargs: Any) -> IO[bytes]:
        received = ReceivedFile(folder)
        owner = getattr(threading.current_thread(), "assoc", None)  # created in the association's DUL thread
        if owner is not None:
            with _received_lock:
                files = _received_by_association.setdefault(owner, [])
                files.append((received.name, weakref.ref(received)))
                if len(files) > 64:  # a long association: forget the files already committed or removed
                    files[:] = [entry for entry in files if os.path.exists(entry[0])]
        return received  # type: ignore[return-value]

    _dimse_messages.NamedTemporaryFile = functools.update_wrapper(factory, tempfile.NamedTemporaryFile)  # type: ignore[attr-defined]


class _ReactorClock:
    """The ``time`` module as pynetdicom.association sees it.

    In an association's own thread (its reactor loop) a sleep waits on the association's DIMSE message queue
    instead. A complete message wakes it (``Queue.put``), and so does everything else the loop looks at after its
    sleep (``wake_association_reactors``): a primitive from the DUL (release or abort request), a pause request
    (the checkpoint cleared), the end of the DUL thread (a kill or an abort, local or from the peer). What signals
    nothing (the network timeout) is looked at every REACTOR_IDLE_WAIT. Associations of a DUL made before that
    change wait at most ``seconds``, as before. Elsewhere (a requestor waiting for a response) sleeps are capped at
    ``delay``.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def sleep(self, seconds: float) -> None:
        thread = threading.current_thread()
        messages = getattr(getattr(thread, "dimse", None), "msg_queue", None)
        if not isinstance(messages, queue.Queue) or seconds > _REACTOR_SLEEP:
            time.sleep(min(seconds, self.delay))
            return
        signalled = isinstance(getattr(thread, "_reactor_checkpoint", None), _ReactorCheckpoint) and isinstance(
            getattr(getattr(thread, "dul", None), "to_user_queue", None), _WakingUserQueue)
        with messages.not_empty:
            if messages.queue:  # the deque itself: qsize() would take the lock held here
                return
            if not signalled:
                messages.not_empty.wait(seconds)  # Queue.put() notifies not_empty
                return
            wakes = getattr(thread, "_bridge_wakes", 0)
            if wakes == getattr(thread, "_bridge_seen_wakes", 0):  # nothing signalled since the last sleep began
                messages.not_empty.wait(REACTOR_IDLE_WAIT)
            thread._bridge_seen_wakes = getattr(thread, "_bridge_wakes", 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


REACTOR_IDLE_WAIT = 0.02


def _wake_reactor(assoc: Any) -> None:
    """Wake ``assoc``'s reactor loop from its sleep, or have its next sleep return at once."""
    messages = getattr(getattr(assoc, "dimse", None), "msg_queue", None)
    if not isinstance(messages, queue.Queue):  # not made yet: the reactor does not run yet
        return
    with messages.not_empty:
        assoc._bridge_wakes = getattr(assoc, "_bridge_wakes", 0) + 1
        messages.not_empty.notify_all()  # all: a send_* waiting in get_msg() rechecks the queue and waits on


class _WakingUserQueue(queue.Queue):  # type: ignore[type-arg]
    """A DUL's queue of primitives for the association (A-ASSOCIATE, A-RELEASE, A-ABORT, A-P-ABORT) whose every
    put wakes the association's reactor."""

    def __init__(self, dul: Any) -> None:
        super().__init__()
        self._dul = weakref.ref(dul)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        dul = self._dul()
        if dul is not None:
            _wake_reactor(getattr(dul, "assoc", None))


def wake_association_reactors() -> None:
    """Change 3, third part: every association made from now on is woken by whatever its reactor loop looks at
    (see _ReactorClock): its DUL's user queue wakes it, its checkpoint's clear() (``_ReactorCheckpoint``) and the
    end of its DUL thread (which a kill() or an abort ends). With ``reliable_reactor_pause`` (whose checkpoint
    signals), an idle association's reactor wakes every REACTOR_IDLE_WAIT instead of every millisecond."""
    dul_cls = _dul_module.DULServiceProvider
    if getattr(dul_cls.run_reactor, "_bridge_wakes", False):
        return
    original_init, original_run = dul_cls.__init__, dul_cls.run_reactor

    @functools.wraps(original_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.to_user_queue = _WakingUserQueue(self)

    @functools.wraps(original_run)
    def run_reactor(self: Any) -> None:
        try:
            original_run(self)
        finally:
            _wake_reactor(getattr(self, "assoc", None))

    run_reactor._bridge_wakes = True  # type: ignore[attr-defined]
    dul_cls.__init__ = init  # type: ignore[method-assign]
    dul_cls.run_reactor = run_reactor  # type: ignore[method-assign]


class _DulClock:
    """The ``time`` module as pynetdicom.dul sees it.

    In a DUL thread an idle sleep waits on the peer's socket and on the thread's wake descriptor, which every put
    into its queues (a reply to send, an event) and every stop request signals (``_WakingQueue``): it ends as soon
    as there is something to do, and lasts at most DUL_IDLE_WAIT for what signals nothing (the ARTIM timer).
    Without a wake descriptor (a DUL made before the change) it polls every ``delay``."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def sleep(self, seconds: float) -> None:
        thread = threading.current_thread()
        wake = getattr(thread, "_bridge_wake", None)
        sock = getattr(getattr(thread, "socket", None), "socket", None)
        if wake is None:
            if sock is None:
                time.sleep(min(seconds, self.delay))
                return
            watched, wait = [sock], min(seconds, self.delay)
        else:
            if thread.event_queue.qsize() or thread.to_provider_queue.qsize():  # put before this sleep began
                return
            watched, wait = ([wake] if sock is None else [wake, sock]), DUL_IDLE_WAIT
        try:
            select.select(watched, [], [], wait)
        except (OSError, ValueError):  # closed meanwhile: the DUL loop notices on its own
            time.sleep(min(seconds, self.delay))
        if wake is not None:
            try:
                os.eventfd_read(wake)
            except BlockingIOError:  # not signalled: the socket or the timeout ended the wait
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


DUL_IDLE_WAIT = 0.02


class _WakingQueue(queue.Queue):  # type: ignore[type-arg]
    """A DUL queue whose every put signals the DUL thread's wake descriptor."""

    def __init__(self, wake: int) -> None:
        super().__init__()
        self._wake = wake

    def _put(self, item: Any) -> None:
        super()._put(item)
        _signal(self._wake)


def _signal(wake: int) -> None:
    try:
        os.eventfd_write(wake, 1)
    except OSError:  # closed: the DUL is gone
        pass


def wake_idle_dul_threads() -> None:
    """Change 3, second part: every DUL made from now on gets a wake descriptor (an eventfd) signalled by every
    put into its event and outgoing queues and by stop_dul(). Linux only; elsewhere the DUL loop polls."""
    cls = _dul_module.DULServiceProvider
    if not hasattr(os, "eventfd") or getattr(cls.__init__, "_bridge_wake", False):
        return
    original_init, original_stop = cls.__init__, cls.stop_dul

    @functools.wraps(original_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        weakref.finalize(self, os.close, wake)
        self.event_queue = _WakingQueue(wake)
        self.to_provider_queue = _WakingQueue(wake)
        self._bridge_wake = wake

    @functools.wraps(original_stop)
    def stop_dul(self: Any) -> bool:
        wake = getattr(self, "_bridge_wake", None)
        if wake is not None:
            _signal(wake)
        return bool(original_stop(self))

    init._bridge_wake = True  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[method-assign]
    cls.stop_dul = stop_dul  # type: ignore[method-assign]


_REACTOR_SLEEP = 0.001  # pynetdicom's association loop: time.sleep(0.001) before each look at its queue


class _ReactorCheckpoint:
    """An association's ``_reactor_checkpoint`` (a ``threading.Event`` in pynetdicom) whose ``wait()``, called only
    by the association's reactor, returns only when the flag is set as it looks (not merely because it was set for
    a moment), and which keeps the association's ``_is_paused`` true exactly while the reactor is held in it."""

    def __init__(self, assoc: Any) -> None:
        self._assoc = weakref.ref(assoc)
        self._cond = threading.Condition(threading.Lock())
        self._flag = True

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._cond:
            self._flag = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._flag = False
        _wake_reactor(self._assoc())  # from its sleep, to be held here

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        assoc = self._assoc()
        held = False
        with self._cond:
            while not self._flag:
                held = True
                if assoc is not None:
                    assoc._is_paused = True  # the flag the send_* methods spin on
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
            if held and self._flag and assoc is not None:
                assoc._is_paused = False  # under the lock clear() takes: a clear() after this sees it false
            return self._flag


def reliable_reactor_pause() -> None:
    """Change 6: every association made from now on, requestor or acceptor, gets a ``_ReactorCheckpoint``."""
    cls = _association_module.Association
    if getattr(cls.__init__, "_bridge_checkpoint", False):
        return
    original = cls.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._reactor_checkpoint = _ReactorCheckpoint(self)

    init._bridge_checkpoint = True  # type: ignore[attr-defined]
    cls.__init__ = init  # type: ignore[method-assign]
    original_release = cls.release

    @functools.wraps(original_release)
    def release(self: Any) -> None:
        if threading.current_thread() is self:  # the reactor itself releases (network timeout): it holds no message
            self._is_paused = True
        original_release(self)

    cls.release = release  # type: ignore[method-assign]


_UID_CHARACTERS = frozenset("0123456789.")


def store_response_command(primitive: Any) -> bytes | None:
    """The Command Set of a C-STORE response primitive, Implicit VR Little Endian, as pynetdicom encodes it; None
    when it is not a plain response (Error Comment or Offending Element set, a UID that is empty, over 64
    characters or not digits and dots, a Message ID or Status outside 16 bits): pynetdicom encodes those."""
    if primitive.ErrorComment is not None or primitive.OffendingElement is not None:
        return None
    status, message_id = primitive.Status, primitive.MessageIDBeingRespondedTo
    sop_class, sop_instance = primitive.AffectedSOPClassUID, primitive.AffectedSOPInstanceUID
    if not (isinstance(status, int) and 0 <= status <= 0xFFFF and isinstance(message_id, int)
            and 0 <= message_id <= 0xFFFF and _plain_uid(sop_class)
            and (sop_instance is None or _plain_uid(sop_instance))):
        return None
    body = _uid_element(0x0002, sop_class) + struct.pack(
        "<HHIHHHIHHHIHHHIH",  # Command Field, Message ID Being Responded To, Command Data Set Type, Status
        0, 0x0100, 2, 0x8001, 0, 0x0120, 2, message_id, 0, 0x0800, 2, 0x0101, 0, 0x0900, 2, status)
    if sop_instance is not None:
        body += _uid_element(0x1000, sop_instance)
    return struct.pack("<HHII", 0x0000, 0x0000, 4, len(body)) + body


def _plain_uid(uid: object) -> bool:
    return isinstance(uid, str) and 0 < len(uid) <= 64 and _UID_CHARACTERS.issuperset(uid)


def _uid_element(element: int, uid: str) -> bytes:
    value = uid.encode("ascii") + (b"\0" if len(uid) % 2 else b"")
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def direct_store_responses() -> None:
    """Change 7."""
    cls = _dimse_module.DIMSEServiceProvider
    if getattr(cls.send_msg, "_bridge_direct", False):
        return
    original = cls.send_msg

    @functools.wraps(original)
    def send_msg(self: Any, primitive: Any, context_id: int) -> None:
        if (isinstance(primitive, _dimse_primitives.C_STORE) and primitive.MessageIDBeingRespondedTo is not None
                and not self.assoc.get_handlers(_evt.EVT_DIMSE_SENT)):
            command = store_response_command(primitive)
            limit = self.maximum_pdu_size
            if command is not None and (not limit or len(command) + 6 <= limit):
                pdata = _pdu_primitives.P_DATA()
                pdata.presentation_data_value_list.append((context_id, b"\x03" + command))
                self.dul.send_pdu(pdata)
                return
        original(self, primitive, context_id)

    send_msg._bridge_direct = True  # type: ignore[attr-defined]
    cls.send_msg = send_msg  # type: ignore[method-assign]


class _PlainFileMeta:
    """The File Meta Information of a received data set whose UIDs are plain (``file_meta_bytes``)."""

    __slots__ = ("encoded",)

    def __init__(self, encoded: bytes) -> None:
        self.encoded = encoded


def file_meta_bytes(sop_class_uid: object, sop_instance_uid: object, transfer_syntax: object,
                    implementation_uid: object, implementation_version: object) -> bytes | None:
    """The File Meta Information group (after the preamble and 'DICM') that pynetdicom writes before a received
    C-STORE data set, Explicit VR Little Endian, as pydicom encodes it; None when a UID is not plain (empty, over
    64 characters, not digits and dots) or the version name is not 1-16 printable ASCII characters without
    backslash: pydicom encodes (or refuses) those."""
    if not (_plain_uid(sop_class_uid) and _plain_uid(sop_instance_uid) and _plain_uid(transfer_syntax)
            and _plain_uid(implementation_uid) and isinstance(implementation_version, str)
            and 0 < len(implementation_version) <= 16 and implementation_version.isascii()
            and implementation_version.isprintable() and "\\" not in implementation_version):
        return None
    version = implementation_version.encode("ascii")
    body = (b"\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01"
            + _explicit_uid(0x0002, sop_class_uid) + _explicit_uid(0x0003, sop_instance_uid)  # type: ignore[arg-type]
            + _explicit_uid(0x0010, transfer_syntax) + _explicit_uid(0x0012, implementation_uid)  # type: ignore[arg-type]
            + _explicit_element(0x0013, b"SH", version + (b" " if len(version) % 2 else b"")))
    return struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body)) + body


def _explicit_uid(element: int, uid: str) -> bytes:
    return _explicit_element(element, b"UI", uid.encode("ascii") + (b"\0" if len(uid) % 2 else b""))


def _explicit_element(element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def direct_file_meta() -> None:
    """Change 8."""
    if getattr(_dimse_messages.write_file_meta_info, "_bridge_direct", False):
        return
    original_create, original_write = _dimse_messages.create_file_meta, _dimse_messages.write_file_meta_info

    @functools.wraps(original_create)
    def create_file_meta(*, sop_class_uid: Any, sop_instance_uid: Any, transfer_syntax: Any,
                         implementation_uid: Any = _dsutils.PYNETDICOM_IMPLEMENTATION_UID,
                         implementation_version: Any = _dsutils.PYNETDICOM_IMPLEMENTATION_VERSION) -> Any:
        encoded = file_meta_bytes(sop_class_uid, sop_instance_uid, transfer_syntax, implementation_uid,
                                  implementation_version)
        if encoded is not None:
            return _PlainFileMeta(encoded)
        return original_create(sop_class_uid=sop_class_uid, sop_instance_uid=sop_instance_uid,
                               transfer_syntax=transfer_syntax, implementation_uid=implementation_uid,
                               implementation_version=implementation_version)

    @functools.wraps(original_write)
    def write_file_meta_info(fp: Any, file_meta: Any, enforce_standard: bool = True) -> None:
        if isinstance(file_meta, _PlainFileMeta):
            fp.write(file_meta.encoded)
            return
        original_write(fp, file_meta, enforce_standard)

    write_file_meta_info._bridge_direct = True  # type: ignore[attr-defined]
    _dimse_messages.create_file_meta = create_file_meta  # type: ignore[assignment]
    _dimse_messages.write_file_meta_info = write_file_meta_info  # type: ignore[assignment]


def copy_of_contexts(contexts: Any, memo: Any = None) -> Any:
    """``copy.deepcopy`` as pynetdicom's association server uses it, on the list of supported presentation contexts
    it copies for every association: new contexts with the same values and their own transfer syntax lists (the UIDs
    are immutable strings, shared); anything else is deep-copied."""
    if isinstance(contexts, list) and all(type(c) is _presentation_module.PresentationContext for c in contexts):
        copies = []
        for context in contexts:
            copy = _presentation_module.PresentationContext.__new__(_presentation_module.PresentationContext)
            copy.__dict__.update(context.__dict__)
            copy._transfer_syntax = list(context._transfer_syntax)
            copies.append(copy)
        return copies
    return _deepcopy(contexts, memo)


def cheap_context_copies() -> None:
    """Change 9."""
    _transport_module.deepcopy = copy_of_contexts  # type: ignore[attr-defined]


def read_whole_pdus() -> None:
    """Change 5."""
    _transport_module.AssociationSocket.recv = _recv_into_one_buffer  # type: ignore[method-assign]


def _recv_into_one_buffer(self: Any, nr_bytes: int) -> bytearray:
    """AssociationSocket.recv: ``nr_bytes`` from the socket, fewer only if the peer closed the connection."""
    buffer = bytearray(nr_bytes)
    view = memoryview(buffer)
    nr_read = 0
    try:
        while nr_read < nr_bytes:
            received = self.socket.recv_into(view[nr_read:], nr_bytes - nr_read)
            if not received:  # connection closed: what was read so far, as pynetdicom's own recv returns
                break
            nr_read += received
    finally:
        view.release()
    if nr_read < nr_bytes:
        del buffer[nr_read:]
    return buffer


def quiet_standard_handlers() -> None:
    """Change 4."""
    if not logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG):
        _config.LOG_HANDLER_LEVEL = "none"


def shorten_polling(delay: float) -> None:
    """Change 3: the association loop waits on its message queue, the DUL loop on its socket and its wake
    descriptor (see the clocks); the DUL's own idle delay is also set per connection (``dul._run_loop_delay``)."""
    _association_module.time = _ReactorClock(delay)  # type: ignore[attr-defined]
    _dul_module.time = _DulClock(delay)  # type: ignore[attr-defined]
    wake_idle_dul_threads()
    wake_association_reactors()
