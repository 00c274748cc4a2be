"""``dicom-bridge send PATH... --port N``: C-STORE files to a DICOM listener (this bridge's, or any)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridge.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_SERVICE, console, console_err, progress_bar
from bridge.errors import ServiceError
from bridge.ingest.files import iter_files
from bridge.service.scu import send_files


def send_command(
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders (searched recursively).")],
    port: Annotated[int, typer.Option("--port", "-p", help="Listener port.")] = 11112,
    host: Annotated[str, typer.Option("--host", help="Listener address.")] = "127.0.0.1",
    called_ae: Annotated[str, typer.Option("--aec", help="Called AE title (the listener's).")] = "DICOM_BRIDGE",
    calling_ae: Annotated[str, typer.Option("--aet", help="Calling AE title (ours).")] = "DICOM_BRIDGE_SCU",
    wait: Annotated[float, typer.Option("--wait", help="Seconds to retry while the listener starts.")] = 0.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on a terminal.")] = True,
) -> None:
    """Send files with C-STORE over one association; exit 1 if any instance was not stored."""
    files = list(iter_files(paths))
    with progress_bar(progress and console.is_terminal) as bar:
        task = bar.add_task("sending", total=len(files))
        try:
            results = send_files(
                files, port, called_ae, calling_ae, host, lambda n: bar.update(task, completed=n), wait
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
