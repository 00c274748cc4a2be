"""What the commands share: consoles, exit codes, settings loading."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bridge.settings import Settings, load_settings

EXIT_OK = 0
EXIT_PROBLEMS = 1  # some input rejected, or an output failed validation
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_SERVICE = 4  # the service cannot start

console = Console()
console_err = Console(stderr=True)


def settings_from(config: Path | None) -> Settings:
    """Settings from ``--config`` (or config/bridge.toml in the working folder when present) and BRIDGE_*."""
    if config is None:
        default = Path("config/bridge.toml")
        config = default if default.is_file() else None
    return load_settings(config)


def progress_bar(enabled: bool) -> Progress:
    """A progress bar on the console (nothing when ``enabled`` is false, e.g. output is not a terminal)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=True,
    )
