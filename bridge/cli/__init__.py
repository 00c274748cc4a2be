"""The ``dicom-bridge`` command: thin commands that parse options, call the API and map errors to exit codes.

Exit status: 0 success; 1 some input was rejected or an output failed validation; 2 usage error;
3 configuration error; 4 the service cannot start.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bridge import __version__
from bridge.cli import convert, deliveries, samples, send, serve, status, validate
from bridge.cli.common import EXIT_CONFIG, console_err
from bridge.errors import ConfigError
from bridge.log import setup_logging

app = typer.Typer(
    name="dicom-bridge",
    help="Turn DICOM studies and reports into HL7 Europe Imaging Report FHIR R5 resources.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("convert")(convert.convert_command)
app.command("validate")(validate.validate_command)
app.command("samples")(samples.samples_command)
app.command("serve")(serve.serve_command)
app.command("send")(send.send_command)
app.command("status")(status.status_command)
app.command("deadletters")(deliveries.deadletters_command)
app.command("replay")(deliveries.replay_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dicom-bridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log: -v INFO, -vv DEBUG.")] = 0,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines instead of text.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    setup_logging(verbose, log_json)


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except ConfigError as exc:
        console_err.print(f"[red]configuration error:[/red] {exc}")
        raise SystemExit(EXIT_CONFIG) from exc
