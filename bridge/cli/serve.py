"""``dicom-bridge serve``: the DICOM listener, folder watch and scheduler until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridge.cli.common import EXIT_SERVICE, console_err, settings_from
from bridge.errors import ServiceError, StoreError
from bridge.log import apply_log_settings
from bridge.service.runner import Service


def serve_command(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (default config/bridge.toml).")
    ] = None,
) -> None:
    """Run the service: receive DICOM (C-STORE, inbox folders), seal studies, write their FHIR resources.

    Stops gracefully on SIGTERM or SIGINT; pending work stays in the store for the next start. Exit 4
    when the service cannot start (port taken, data directory or store unusable). Logs at [log] level and
    format of the settings unless -v/-vv or --log-json are given; the status page, /metrics and /healthz are on
    [http] (http://127.0.0.1:8112/ by default).
    """
    settings = settings_from(config)
    root = ctx.parent.params if ctx.parent is not None else {}
    apply_log_settings(root.get("verbose", 0), root.get("log_json", False), settings.log.level, settings.log.format)
    service = Service(settings)
    try:
        service.start()
    except (ServiceError, StoreError) as exc:
        console_err.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(EXIT_SERVICE) from exc
    from bridge.ingest.scp import skip_value_validation

    skip_value_validation()  # after start: the workers are forked and keep pydicom's defaults
    listener = settings.listener
    where = f"{listener.ae_title}@{listener.bind_address}:{service.port}" if service.listener else "no listener"
    page = f"; status page {service.http_url}" if service.http else ""
    console_err.print(f"dicom-bridge serving ({where}); output in {service.output_dir}{page}; Ctrl-C to stop",
                      soft_wrap=True)
    service.run_until_signalled()
