"""What the commands share: consoles, exit codes, settings loading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bridge.errors import ConfigError
from bridge.settings import PeerSettings, Settings, load_settings

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


DEFAULT_CONFIG = Path("config/bridge.toml")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default config/bridge.toml).")
]


def config_file(config: Path | None) -> Path | None:
    """The settings file ``settings_from(config)`` reads: ``config``, else config/bridge.toml when present."""
    if config is not None:
        return config
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def peer_settings(settings: Settings, name: str, config: Path | None) -> PeerSettings:
    """The ``[peers.NAME]`` entry of the settings.

    Raises:
        ConfigError: no such peer; the message names the file and the peers it knows.
    """
    peer = settings.peers.get(name)
    if peer is None:
        source = config_file(config) or "the settings (no settings file)"
        known = ", ".join(sorted(settings.peers)) or "none"
        raise ConfigError(f"peers.{name}: no peer {name!r} in {source}; known peers: {known}")
    return peer
