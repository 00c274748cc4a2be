"""``dicom-bridge convert PATH... --out DIR``: files and folders to FHIR resources on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bridge.api import ConversionResult, convert
from bridge.cli.common import EXIT_OK, EXIT_PROBLEMS, console, progress_bar, settings_from
from bridge.ingest.files import iter_files
from bridge.sinks.files import WrittenStudy, write_study


def convert_command(
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder, one subfolder per study.")] = Path("out"),
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (default config/bridge.toml).")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on a terminal.")
    ] = True,
    workers: Annotated[
        int | None, typer.Option("--workers", "-j", min=1, help="Processes reading headers (default: one per core).")
    ] = None,
) -> None:
    """Convert DICOM files: per study the ImagingStudy and Patient, and a report Bundle per report SR.

    Exit 1 when any file was rejected or a report bundle failed validation; the rest is still written.
    """
    settings = settings_from(config)
    show = progress and console.is_terminal
    total = sum(1 for _ in iter_files(paths)) if show else None  # counting walks the tree once more
    with progress_bar(show) as bar:
        task = bar.add_task("reading", total=total)
        result = convert(
            paths, settings, progress=lambda done: bar.update(task, completed=done), workers=workers
        )
    written = [write_study(out, study) for study in result.studies]
    _print_summary(result, written)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_PROBLEMS)


def _print_summary(result: ConversionResult, written: list[WrittenStudy]) -> None:
    table = Table(title=f"{result.files_read} files read, {len(result.studies)} studies", title_justify="left")
    table.add_column("Study Instance UID", overflow="fold")
    for column in ("Modalities", "Series", "Instances", "Reports"):
        table.add_column(column)
    table.add_column("Output", overflow="fold")
    for study, files in zip(result.studies, written, strict=True):
        table.add_row(
            study.study_instance_uid,
            " ".join(study.study.modalities),
            str(len(study.study.series)),
            str(study.study.number_of_instances),
            str(len(study.reports)),
            str(files.folder),
        )
    console.print(table)
    for files in written:
        for report in files.reports:
            console.print(f"report bundle: {report}", highlight=False, soft_wrap=True)
    for item in result.skipped:
        console.print(f"skipped {item.source}: {item.reason}", markup=False, highlight=False)
    for item in result.rejected:
        console.print(f"rejected {item.source}: {item.reason}", style="red", markup=False, highlight=False)
    for bundle_id, violations in result.violations.items():
        for violation in violations:
            console.print(f"invalid bundle {bundle_id}: {violation}", style="red", markup=False, highlight=False)
    findings = result.findings
    if findings:
        console.print(f"{len(findings)} finding(s) while reading; see -v for details")
    if result.rejected:
        console.print(f"{len(result.rejected)} file(s) rejected", style="red")
