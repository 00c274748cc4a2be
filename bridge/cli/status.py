"""``dicom-bridge status``: the studies and the work queue in the service's state store."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bridge.cli.common import EXIT_OK, EXIT_PROBLEMS, console, settings_from
from bridge.store import DeliveryState, QueueCounts, StateStore, StudyState, default_sqlite_url, open_store


def status_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (default config/bridge.toml).")
    ] = None,
    wait_idle: Annotated[
        float, typer.Option("--wait-idle", help="Wait up to this many seconds for every study to be sealed.")
    ] = 0.0,
) -> None:
    """Show each study (accession, modalities, state, revision, instances, last emitted, last error or warnings),
    what is waiting, and the delivery queue with its dead letters.

    With --wait-idle, exit 1 if work is still pending when the time is up.
    """
    settings = settings_from(config)
    url = settings.store.url or default_sqlite_url(settings.service.data_dir.resolve())
    with open_store(url) as store:
        deadline = time.monotonic() + wait_idle
        counts = store.counts()
        while not _idle(counts) and time.monotonic() < deadline:
            time.sleep(0.2)
            counts = store.counts()
        _print(store, counts)
    raise typer.Exit(EXIT_OK if _idle(counts) or not wait_idle else EXIT_PROBLEMS)


def _idle(counts: QueueCounts) -> bool:
    return counts.unparsed == 0 and counts.open_studies == 0 and counts.building_studies == 0


def _print(store: StateStore, counts: QueueCounts) -> None:
    table = Table(title="studies", title_justify="left")
    table.add_column("Study Instance UID", overflow="fold")
    for column in ("Accession", "Modality", "State", "Revision", "Instances", "Last emitted (UTC)",
                   "Last error / warnings"):
        table.add_column(column, overflow="fold")
    for study in store.studies():
        emitted = utc(study.emitted_at) if study.emitted_at else ""
        style = "red" if study.state is StudyState.FAILED else None
        summary = study.summary or {}
        table.add_row(
            study.study_instance_uid, summary.get("accession_number") or "", ", ".join(summary.get("modalities", ())),
            study.state.value, str(study.revision), str(study.instance_count), emitted,
            study.last_error or study.warnings or "", style=style or ("yellow" if study.warnings else None),
        )
    console.print(table)
    console.print(
        f"waiting: {counts.unparsed} instances to place, {counts.open_studies} studies open, "
        f"{counts.building_studies} building"
    )
    for sink, states in sorted(store.delivery_counts().items()):
        queued = states.get(DeliveryState.PENDING.value, 0) + states.get(DeliveryState.SENDING.value, 0)
        dead = states.get(DeliveryState.DEAD.value, 0)
        console.print(f"delivery to {sink}: {states.get(DeliveryState.DELIVERED.value, 0)} delivered, {queued} queued, "
                      f"{dead} dead letters" + (" (dicom-bridge deadletters)" if dead else ""),
                      style="red" if dead else None)


def utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
