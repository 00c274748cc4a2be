"""``dicom-bridge validate FILE...``: check FHIR report bundles against the guide's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridge.cli.common import EXIT_OK, EXIT_PROBLEMS, console


def validate_command(
    files: Annotated[list[Path], typer.Argument(help="FHIR JSON files: report Bundles or single resources.")],
    warnings: Annotated[
        bool, typer.Option("--warnings/--no-warnings", help="Also print warning-level findings.")
    ] = True,
) -> None:
    """Validate each file; one line per violation (rule id and path); exit 1 when any error is found."""
    from bridge.validate import validate_file  # fhir.resources loads only for the command that needs it

    errors = 0
    for path in files:
        violations = validate_file(path)
        shown = [v for v in violations if warnings or v.severity == "error"]
        file_errors = sum(1 for v in violations if v.severity == "error")
        errors += file_errors
        for violation in shown:
            console.print(f"{path}: {violation}", markup=False, highlight=False)
        status = "ok" if not file_errors else f"{file_errors} error(s)"
        console.print(f"{path}: {status}", markup=False, highlight=False)
    raise typer.Exit(EXIT_PROBLEMS if errors else EXIT_OK)
