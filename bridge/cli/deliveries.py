"""``dicom-bridge deadletters`` and ``dicom-bridge replay``: the deliveries that failed for good, and re-queuing
them once the cause is fixed. Both read the service's state store, so they work while the service runs."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bridge.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, console, console_err, settings_from
from bridge.cli.status import utc
from bridge.settings import Settings
from bridge.store import StateStore, default_sqlite_url, open_store

log = logging.getLogger(__name__)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default config/bridge.toml).")
]


def _open(settings: Settings) -> StateStore:
    return open_store(settings.store.url or default_sqlite_url(settings.service.data_dir.resolve()))


def deadletters_command(
    config: ConfigOption = None,
    sink: Annotated[str | None, typer.Option("--sink", help="Only this FHIR server sink.")] = None,
) -> None:
    """List the dead-lettered deliveries: id, study, revision, sink, attempts, last error.

    Exit 1 when there is any.
    """
    with _open(settings_from(config)) as store:
        dead = store.dead_letters(sink)
    table = Table(title="dead letters", title_justify="left")
    for column in ("Id", "Study Instance UID", "Revision", "Sink", "Attempts", "Queued (UTC)", "Last error"):
        table.add_column(column, overflow="fold")
    for d in dead:
        table.add_row(str(d.delivery_id), d.study_instance_uid, str(d.revision), d.sink, str(d.attempts),
                      utc(d.created_at), d.last_error or "")
    console.print(table)
    console.print(f"{len(dead)} dead letter(s)")
    raise typer.Exit(EXIT_PROBLEMS if dead else EXIT_OK)


def replay_command(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids (see `dicom-bridge deadletters`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Re-queue every dead letter.")] = False,
    config: ConfigOption = None,
) -> None:
    """Re-queue dead letters for delivery, after their cause was fixed.

    A dead letter whose study has a newer revision for the same sink is marked superseded instead: the newer
    revision carries the whole study.
    """
    if not ids and not all_:
        console_err.print("[red]name the dead letters to replay, or --all[/red]")
        raise typer.Exit(EXIT_USAGE)
    with _open(settings_from(config)) as store:
        requeued, superseded = store.replay(None if all_ else ids, time.time())
    unknown = sorted(set(ids or ()) - set(requeued) - set(superseded))
    log.info("re-queued %d dead letters, %d superseded", len(requeued), len(superseded),
             extra={"event": "delivery.replayed"})
    console.print(f"re-queued: {', '.join(map(str, requeued)) or 'none'}")
    if superseded:
        console.print(f"superseded by a newer revision (not sent): {', '.join(map(str, superseded))}")
    if unknown:
        console.print(f"[red]not dead letters: {', '.join(map(str, unknown))}[/red]")
    raise typer.Exit(EXIT_PROBLEMS if unknown else EXIT_OK)
