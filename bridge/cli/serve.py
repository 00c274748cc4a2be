"""``dicom-bridge serve``: the DICOM listener, folder watch and scheduler until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridge.cli.common import EXIT_SERVICE, console_err, settings_from
from bridge.errors import ServiceError, StoreError
from bridge.service.runner import Service


def serve_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (default config/bridge.toml).")
    ] = None,
) -> None:
    """Run the service: receive DICOM (C-STORE, inbox folders), seal studies, write their FHIR resources.

    Stops gracefully on SIGTERM or SIGINT; pending work stays in the store for the next start. Exit 4
    when the service cannot start (port taken, data directory or store unusable).
    """
    settings = settings_from(config)
    service = Service(settings)
    try:
        service.start()
    except (ServiceError, StoreError) as exc:
        console_err.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(EXIT_SERVICE) from exc
    _skip_value_validation()
    listener = settings.listener
    where = f"{listener.ae_title}@{listener.bind_address}:{service.port}" if service.listener else "no listener"
    console_err.print(f"dicom-bridge serving ({where}); output in {service.output_dir}; Ctrl-C to stop")
    service.run_until_signalled()


def _skip_value_validation() -> None:
    """In the service's own process pydicom only encodes and decodes DIMSE command sets (data sets are moved as
    bytes); checking each value's VR there costs several percent of every C-STORE. The worker processes,
    already forked, keep pydicom's defaults, so what they read still turns invalid values into findings.
    Process-wide, hence here and not in the in-process harness, whose host process may read DICOM itself."""
    from pydicom import config

    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
