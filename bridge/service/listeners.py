"""Several listener processes behind one port, so that concurrent associations use every core.

pynetdicom runs every association in a thread of one process, so one process receives on one core at a time.
With ``listener.processes`` > 1 the service listens on the port itself and forks that many minus one listener
processes at start-up (pre-fork), each with its own Listener, Intake and store connection. A dispatcher thread in
the service accepts each connection and hands it to the listener, its own or a process's, with the fewest open
connections (the socket travels over a Unix socket with SCM_RIGHTS): load follows the work, which SO_REUSEPORT's
hash of the peer's address does not do (four associations on two processes land 3:1 or 4:0 in most cases).
The listener processes only receive (durable spool + store record, the same Intake as the service's listener):
parsing, building and delivery stay in the service's process and its workers.

A listener process ends with the service (SIGTERM, or the parent-death signal if the service is killed); its
counters reach the service's /metrics through a pipe, once a second and when it stops.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

from bridge.ingest.intake import Intake
from bridge.ingest.scp import Listener, ListenerError, skip_value_validation
from bridge.ingest.spool import Spool
from bridge.metrics import DiskReserve, Metrics
from bridge.service.lifetime import end_with_parent
from bridge.settings import ListenerSettings
from bridge.store import open_store

log = logging.getLogger(__name__)

READY_TIMEOUT = 30.0  # seconds for a listener process to open the store and to start
REPORT_INTERVAL = 1.0  # seconds between counter reports
ACCEPT_POLL = 0.5  # seconds between looks at the stop flag while no connection comes

CounterKey = tuple[str, tuple[tuple[str, str], ...]]  # (counter name, labels)


@dataclass(frozen=True, slots=True)
class ListenerJob:
    """What a listener process needs; everything else it opens itself after the fork."""

    index: int  # its slot in the open-connection counts (0 is the service's own listener)
    settings: ListenerSettings
    data_dir: str
    store_url: str
    min_free_space_mb: int
    grace: float
    parent_pid: int
    inherited: tuple[int, ...] = ()  # the service's descriptors a fork copied in: the port and earlier channels


class ListenerProcesses:
    """The listening socket, the dispatcher and the listener processes.

    ``start()`` before the service starts any thread (it forks), ``go(own)`` once the service's own fed listener
    runs, ``stop()`` at shutdown.
    """

    def __init__(self, settings: ListenerSettings, data_dir: Path, store_url: str, min_free_space_mb: int,
                 count: int) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.store_url = store_url
        self.min_free_space_mb = min_free_space_mb
        self.count = count  # processes besides the service's own listener
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._pipes: list[Connection] = []  # control and counters
        self._channels: list[socket.socket] = []  # connections are handed over these
        self._open: SynchronizedArray[Any] | None = None  # open connections per listener, 0 = the service's
        self._socket: socket.socket | None = None
        self._own: Listener | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last: dict[int, dict[CounterKey, float]] = {}
        self._next = 0

    @property
    def port(self) -> int:
        if self._socket is None:
            raise ListenerError("the listener is not running")
        return int(self._socket.getsockname()[1])

    @property
    def busy(self) -> bool:
        """Whether any listener has an open connection."""
        return self.connections > 0

    @property
    def connections(self) -> int:
        """Open connections over all listeners."""
        return 0 if self._open is None else sum(self._open[:])

    @property
    def alive(self) -> bool:
        return all(p.is_alive() for p in self._processes) and all(t.is_alive() for t in self._threads)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def start(self) -> int:
        """Listen on the port, fork the listener processes, wait until each has opened the store; returns the port.

        Nothing is accepted before ``go()``: the service first recovers its spool and starts its own listener.

        Raises:
            ListenerError: the port cannot be bound, or a listener process failed to start (nothing keeps running).
        """
        address = (self.settings.bind_address, self.settings.port)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(address)
            self._socket.listen(128)
        except OSError as exc:
            self._socket.close()
            self._socket = None
            raise ListenerError(f"listener: cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}") from exc
        self._socket.settimeout(ACCEPT_POLL)
        settings = self.settings.model_copy(update={"port": self.port})
        context = multiprocessing.get_context("fork")  # no thread runs yet (see Service._start)
        self._open = context.Array("i", self.count + 1)
        try:
            for index in range(1, self.count + 1):
                inherited = (self._socket.fileno(), *(c.fileno() for c in self._channels),
                             *(p.fileno() for p in self._pipes))
                job = ListenerJob(index, settings, str(self.data_dir), self.store_url, self.min_free_space_mb, 10.0,
                                  os.getpid(), inherited)
                ours, theirs = context.Pipe()
                channel, their_channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                process = context.Process(target=_listener_main, args=(job, theirs, their_channel, self._open),
                                          name=f"bridge-listener-{index}")
                process.start()
                theirs.close()
                their_channel.close()
                self._processes.append(process)
                self._pipes.append(ours)
                self._channels.append(channel)
            for process, pipe in zip(self._processes, self._pipes, strict=True):
                _expect(process, pipe, "opened")
        except BaseException:
            self.stop(grace=0)
            raise
        return self.port

    def go(self, own: Listener, metrics: Metrics) -> None:
        """Start the listener processes and the dispatcher; ``own`` is the service's fed listener (slot 0).

        Raises:
            ListenerError: a listener process could not start (the caller stops the service).
        """
        self._own = own
        for pipe in self._pipes:
            pipe.send(("go", None))
        for process, pipe in zip(self._processes, self._pipes, strict=True):
            _expect(process, pipe, "ready")
        for name, target in (("bridge-dispatcher", self._dispatch), ("bridge-listener-counters", self._read)):
            thread = threading.Thread(target=target, args=(metrics,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("listening as %s on %s:%d%s, %d listener processes", self.settings.ae_title,
                 self.settings.bind_address, self.port, " (TLS)" if self.settings.tls.enabled else "", self.count + 1,
                 extra={"event": "listener.started", "port": self.port, "processes": self.count + 1})

    def own_closed(self) -> None:
        """The service's own listener closed a connection."""
        _closed(self._open, 0)

    def close_port(self) -> None:
        """Accept nothing more (the first step of stopping)."""
        self._stopping.set()
        if self._socket is not None:
            self._socket.close()

    def stop(self, grace: float = 10.0) -> None:
        """Close the port, ask each listener process to stop (its running associations get ``grace`` seconds), and
        wait for them."""
        self.close_port()
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace + 10
        for process in self._processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("listener process %s did not stop; killing it", process.pid)
                process.kill()
                process.join(5)
        for thread in self._threads:
            thread.join(5)
        for closable in (*self._pipes, *self._channels):
            closable.close()
        self._processes.clear()
        self._pipes.clear()
        self._channels.clear()
        self._threads.clear()

    # ------------------------------------------------------------------------------------------ internals

    def _dispatch(self, _metrics: Metrics) -> None:
        """Accept each connection and hand it to the listener with the fewest open connections."""
        assert self._socket is not None and self._open is not None and self._own is not None
        while not self._stopping.is_set():
            try:
                conn, address = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("accepting a connection failed")
                time.sleep(0.1)
                continue
            conn.settimeout(None)
            target = self._least_busy()
            try:
                if target == 0:
                    self._own.hand(conn, address)
                else:
                    socket.send_fds(self._channels[target - 1], [b"c"], [conn.fileno()])
                    conn.close()  # the listener process holds its own copy
            except OSError as exc:
                _closed(self._open, target)
                conn.close()
                log.error("cannot hand a connection from %s to listener %d: %s", address[0], target, exc)

    def _least_busy(self) -> int:
        """The slot with the fewest open connections (ties taken in turn), counted as open from now on."""
        assert self._open is not None
        with self._open.get_lock():
            counts = self._open[:]
            least = min(counts)
            candidates = [i for i, n in enumerate(counts) if n == least]
            choice = candidates[self._next % len(candidates)]
            self._next += 1
            self._open[choice] += 1
        return choice

    def _read(self, metrics: Metrics) -> None:
        """Add what the listener processes count to ``metrics``, until they end."""
        pipes = {pipe: index for index, pipe in enumerate(self._pipes)}
        while pipes:
            for pipe in wait(list(pipes)):
                assert isinstance(pipe, Connection)
                try:
                    kind, detail = pipe.recv()
                except (EOFError, OSError):
                    del pipes[pipe]
                    continue
                if kind == "counters":
                    self._apply(metrics, pipes[pipe], detail)

    def _apply(self, metrics: Metrics, index: int, counters: dict[CounterKey, float]) -> None:
        last = self._last.setdefault(index, {})
        for key, value in counters.items():
            delta = value - last.get(key, 0.0)
            if delta > 0:
                metrics.add(key[0], dict(key[1]), delta)
            last[key] = value


def _closed(counts: SynchronizedArray[Any] | None, index: int) -> None:
    if counts is not None:
        with counts.get_lock():
            counts[index] = max(0, counts[index] - 1)


def _expect(process: multiprocessing.process.BaseProcess, pipe: Connection, expected: str) -> None:
    if not pipe.poll(READY_TIMEOUT):
        raise ListenerError(f"listener process {process.pid} did not start within {READY_TIMEOUT:.0f} s")
    try:
        kind, detail = pipe.recv()
    except EOFError as exc:
        raise ListenerError(f"listener process {process.pid} ended at start-up") from exc
    if kind != expected:
        raise ListenerError(str(detail))


def _listener_main(job: ListenerJob, pipe: Connection, channel: socket.socket,
                   counts: SynchronizedArray[Any]) -> None:
    """A listener process: serve the connections the service hands over until SIGTERM/SIGINT, then stop."""
    end_with_parent(job.parent_pid)
    for fd in job.inherited:  # only the service accepts, and only it talks to the other listener processes
        os.close(fd)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    skip_value_validation()
    metrics = Metrics()
    try:
        store = open_store(job.store_url)
    except Exception as exc:  # reported to the service, which refuses to start
        pipe.send(("failed", f"listener process: state store: {exc}"))
        return
    data_dir = Path(job.data_dir)
    listener = Listener(job.settings, Intake(Spool(data_dir), store, time.time, metrics), metrics,
                        DiskReserve(data_dir, job.min_free_space_mb), fed=True,
                        on_close=lambda: _closed(counts, job.index))
    pipe.send(("opened", os.getpid()))
    if not _wait_for_go(pipe, stop):
        store.close()
        return
    try:
        listener.start()
    except ListenerError as exc:
        pipe.send(("failed", str(exc)))
        store.close()
        return
    receiver = threading.Thread(target=_receive, args=(channel, listener, stop), name="bridge-handed", daemon=True)
    receiver.start()
    pipe.send(("ready", os.getpid()))
    try:
        while not stop.wait(REPORT_INTERVAL):
            pipe.send(("counters", metrics.counter_values()))
    except OSError:  # the service is gone: stop as if told to
        pass
    listener.stop(job.grace)
    try:
        pipe.send(("counters", metrics.counter_values()))
    except OSError:
        pass
    store.close()


def _receive(channel: socket.socket, listener: Listener, stop: threading.Event) -> None:
    """Take each connection the service hands over and serve it."""
    while not stop.is_set():
        try:
            _message, fds, _flags, _address = socket.recv_fds(channel, 16, 1)
        except OSError:
            break
        if not fds:  # the service closed the channel
            break
        conn = socket.socket(fileno=fds[0])
        try:
            address = conn.getpeername()
        except OSError:  # the peer is already gone
            conn.close()
            continue
        listener.hand(conn, address)
    stop.set()


def _wait_for_go(pipe: Connection, stop: threading.Event) -> bool:
    """Block until the service says go (True), or stops or goes away first (False)."""
    while not stop.is_set():
        try:
            if pipe.poll(0.2):
                return bool(pipe.recv()[0] == "go")
        except (EOFError, OSError):
            return False
    return False
