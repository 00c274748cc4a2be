"""``dicom-bridge send PATH... [--peer NAME | --port N]``: C-STORE files to a DICOM listener (this bridge's, or any)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridge.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_SERVICE,
    ConfigOption,
    console,
    console_err,
    peer_settings,
    progress_bar,
    settings_from,
)
from bridge.errors import ServiceError
from bridge.ingest.files import iter_files
from bridge.service.scu import send_files

DEFAULT_PORT = 11112
DEFAULT_HOST = "127.0.0.1"
DEFAULT_CALLED_AE = "DICOM_BRIDGE"
DEFAULT_CALLING_AE = "DICOM_BRIDGE_SCU"


def send_command(
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders (searched recursively).")],
    peer: Annotated[
        str | None,
        typer.Option("--peer", help="A peer of the settings (table peers.NAME): its address, AE titles and timeout."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", min=1, max=65535, help=f"Listener port (default {DEFAULT_PORT}, or the peer's)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help=f"Listener address (default {DEFAULT_HOST}, or the peer's).")
    ] = None,
    called_ae: Annotated[
        str | None, typer.Option("--aec", help=f"Called AE title (default {DEFAULT_CALLED_AE}, or the peer's).")
    ] = None,
    calling_ae: Annotated[
        str | None, typer.Option("--aet", help=f"Calling AE title, ours (default {DEFAULT_CALLING_AE}, or the peer's).")
    ] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to retry while the listener starts.")] = 0.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on a terminal.")] = True,
    config: ConfigOption = None,
) -> None:
    """Send files with C-STORE over one association; exit 1 if any instance was not stored.

    With --peer NAME the address, AE titles and timeout come from peers.NAME of the settings; options still win.

    Exit 3 when the settings have no such peer, 4 when no association could be made.
    """
    timeout: float | None = None
    if peer is not None:
        named = peer_settings(settings_from(config), peer, config)
        host, port = host or named.host, port or named.port
        called_ae, calling_ae = called_ae or named.ae_title, calling_ae or named.calling_ae_title
        timeout = named.timeout
    host, port = host or DEFAULT_HOST, port or DEFAULT_PORT
    called_ae, calling_ae = called_ae or DEFAULT_CALLED_AE, calling_ae or DEFAULT_CALLING_AE
    files = list(iter_files(paths))
    with progress_bar(progress and console.is_terminal) as bar:
        task = bar.add_task("sending", total=len(files))
        try:
            results = send_files(
                files, port, called_ae, calling_ae, host, lambda n: bar.update(task, completed=n), wait, timeout
            )
        except ServiceError as exc:
            console_err.print(f"[red]send failed:[/red] {exc}")
            raise typer.Exit(EXIT_SERVICE) from exc
    failed = [r for r in results if not r.ok]
    for result in failed:
        status = f"0x{result.status:04X}" if result.status >= 0 else "not sent"
        console.print(f"{result.path}: {status} {result.comment or ''}", style="red", markup=False, highlight=False)
    console.print(f"{len(results) - len(failed)} of {len(results)} instances stored at {called_ae}@{host}:{port}")
    raise typer.Exit(EXIT_PROBLEMS if failed else EXIT_OK)
