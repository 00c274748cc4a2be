"""``dicom-bridge echo [PEER]``: C-ECHO a DICOM peer (one of ``[peers]``, given by options, or this bridge).

Plain DIMSE only: a peer (or listener) that requires TLS does not answer it."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from bridge.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_SERVICE,
    EXIT_USAGE,
    ConfigOption,
    console,
    console_err,
    peer_settings,
    settings_from,
)
from bridge.service.scu import EchoOutcome, EchoResult, echo_peer
from bridge.settings import Settings

DEFAULT_CALLING_AE = "DICOM_BRIDGE_SCU"  # as `dicom-bridge send`


def echo_command(
    peer: Annotated[
        str | None, typer.Argument(help="A peer of the settings (table peers.NAME); default: this bridge's listener.")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Peer address (overrides the peer's).")] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", min=1, max=65535, help="Peer port (overrides the peer's).")
    ] = None,
    called_ae: Annotated[str | None, typer.Option("--aec", help="Called AE title (overrides the peer's).")] = None,
    calling_ae: Annotated[
        str | None,
        typer.Option("--aet", help=f"Calling AE title, ours (overrides the peer's; default {DEFAULT_CALLING_AE})."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.1, help="Seconds for connecting, the association and the response "
                     "(default: the peer's timeout, else 30)."),
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="Echoes to send, one association each.")] = 1,
    config: ConfigOption = None,
) -> None:
    """Check that a DICOM peer answers: C-ECHO it and print the result and the round-trip time.

    Options override the named peer's values; without PEER, unset ones are those of this bridge's listener.

    Exit 0 when every echo succeeded, 1 when the peer rejected the association or answered a failure status,
    4 when it cannot be reached, 3 when the settings have no such peer.
    """
    settings = settings_from(config)
    named = peer_settings(settings, peer, config) if peer is not None else None
    if named is not None:
        host = host or named.host
        port = port or named.port
        called_ae = called_ae or named.ae_title
        calling_ae = calling_ae or named.calling_ae_title
        timeout = timeout or named.timeout
    else:
        host = host or _own_host(settings)
        port = port or settings.listener.port
        called_ae = called_ae or settings.listener.ae_title
        calling_ae = calling_ae or DEFAULT_CALLING_AE
        timeout = timeout or 30.0
    if port == 0:
        console_err.print("[red]listener.port is 0 (any free port) in the settings: give --port[/red]")
        raise typer.Exit(EXIT_USAGE)
    label = f"{peer} ({called_ae}@{host}:{port})" if peer else f"{called_ae}@{host}:{port}"
    results: list[EchoResult] = []
    with _pynetdicom_quiet():
        for _ in range(count):
            result = echo_peer(host, port, called_ae, calling_ae, timeout)
            results.append(result)
            style = "green" if result.ok else "red"
            console.print(f"{label}: {_describe(result)}, {result.elapsed * 1000:.1f} ms", style=style,
                          markup=False, highlight=False, soft_wrap=True)
    if count > 1:
        _print_summary(results)
    raise typer.Exit(_exit_code(results))


def _own_host(settings: Settings) -> str:
    """Where this bridge's listener is reached from this machine: loopback when it listens on every interface."""
    address = settings.listener.bind_address
    try:
        if ipaddress.ip_address(address).is_unspecified:
            return "::1" if ":" in address else "127.0.0.1"
    except ValueError:
        return address or "127.0.0.1"
    return address


def _describe(result: EchoResult) -> str:
    if result.outcome is EchoOutcome.SUCCESS:
        return "Success"
    if result.outcome is EchoOutcome.STATUS:
        return f"status 0x{result.status or 0:04X}" + (f" ({result.reason})" if result.reason else "")
    if result.outcome is EchoOutcome.REJECTED:
        return f"association rejected: {result.reason}"
    return result.reason or result.outcome.value


def _print_summary(results: list[EchoResult]) -> None:
    times = [r.elapsed * 1000 for r in results if r.ok]
    line = f"{len(results)} echoes, {len(times)} succeeded"
    if times:
        line += f"; round trip min/avg/max {min(times):.1f}/{sum(times) / len(times):.1f}/{max(times):.1f} ms"
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _exit_code(results: list[EchoResult]) -> int:
    """4 when any echo could not reach the peer, else 1 when any failed, else 0."""
    if any(r.outcome in (EchoOutcome.UNREACHABLE, EchoOutcome.NO_ANSWER) for r in results):
        return EXIT_SERVICE
    return EXIT_OK if all(r.ok for r in results) else EXIT_PROBLEMS


class _DropPynetdicom(logging.Filter):
    """Drops pynetdicom's log lines below CRITICAL: each echo line already says what went wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("pynetdicom") or record.levelno >= logging.CRITICAL


@contextmanager
def _pynetdicom_quiet() -> Iterator[None]:
    """While active, the root handlers skip pynetdicom's errors, unless -vv asked for its debug log."""
    root = logging.getLogger()
    handlers = [] if root.isEnabledFor(logging.DEBUG) else list(root.handlers)
    drop = _DropPynetdicom()
    for handler in handlers:
        handler.addFilter(drop)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(drop)
