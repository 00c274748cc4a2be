"""The ``dicom-bridge`` command: thin commands that parse options, call the API and map errors to exit codes.

Exit status (every command):

- 0: success.
- 1: problems: some input was rejected, an output failed validation, an instance was not stored, a peer
  rejected the association or answered with a failure status, work is still pending.
- 2: usage error (unknown option, missing argument).
- 3: configuration error: the settings file or a BRIDGE_* variable is wrong (the message names the key), or
  a peer name is not in [peers].
- 4: service error: the service cannot start, or a DICOM peer cannot be reached.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bridge import __version__
from bridge.cli import config, convert, deliveries, echo, samples, send, serve, status, validate
from bridge.cli.common import EXIT_CONFIG, EXIT_OK, EXIT_PROBLEMS, EXIT_SERVICE, EXIT_USAGE, console_err
from bridge.errors import ConfigError
from bridge.log import setup_logging

EPILOG = "\n".join((
    "Exit status:",
    f"  {EXIT_OK}  success",
    f"  {EXIT_PROBLEMS}  problems: input rejected, output invalid, instances not stored, peer refused or failed",
    f"  {EXIT_USAGE}  usage error: unknown option, missing argument",
    f"  {EXIT_CONFIG}  configuration error: the message names the key (or the unknown peer)",
    f"  {EXIT_SERVICE}  service error: the service cannot start, or a DICOM peer cannot be reached",
))

app = typer.Typer(
    name="dicom-bridge",
    help="Turn DICOM studies and reports into HL7 Europe Imaging Report FHIR R5 resources.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("convert")(convert.convert_command)
app.command("validate")(validate.validate_command)
app.command("samples")(samples.samples_command)
app.command("serve")(serve.serve_command)
app.command("send")(send.send_command)
app.command("echo")(echo.echo_command)
app.command("status")(status.status_command)
app.command("deadletters")(deliveries.deadletters_command)
app.command("replay")(deliveries.replay_command)
app.add_typer(config.app, name="config")


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
