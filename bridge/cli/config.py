"""``dicom-bridge config check``: the effective settings (file + BRIDGE_* environment), secrets masked, and what
is valid but probably not meant."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.markup import escape

from bridge.cli.common import EXIT_OK, ConfigOption, config_file, console_err, settings_from
from bridge.settings import ENV_PREFIX, Settings

MASK = "***"
SECRET_KEYS = frozenset({"token", "client_secret", "password", "secret", "api_key"})
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

app = typer.Typer(
    name="config",
    help="Inspect the settings: `dicom-bridge config check`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("check")
def check_command(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON instead of TOML.")] = False,
) -> None:
    """Load the settings file and the BRIDGE_* environment; print the effective settings, secrets masked.

    Warnings go to stderr and do not fail the check: missing TLS files or inboxes, open ports, unchecked
    certificates, secrets written in the file.

    Exit 0 when the settings are valid, 3 when not (the message names the key).
    """
    settings = settings_from(config)
    path = config_file(config)
    data = mask_secrets(settings.model_dump(mode="json"))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        variables = sorted(name for name in os.environ if name.startswith(ENV_PREFIX) and "__" in name)
        source = str(path) if path is not None else "the defaults (no settings file)"
        if variables:
            source += " with " + ", ".join(variables) + " from the environment"
        typer.echo(f"# effective settings of {source}; secrets masked\n\n{render_toml(data)}", nl=False)
    problems = config_warnings(settings, _raw(path))
    for problem in problems:
        console_err.print(f"[yellow]warning:[/yellow] {escape(problem)}", highlight=False, soft_wrap=True)
    console_err.print(f"{path or 'settings'}: valid, {len(problems)} warning(s)", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK)


# ------------------------------------------------------------------------------------------------ masking


def mask_secrets(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with the values of secret keys and the passwords in URLs replaced by "***"."""
    if isinstance(value, dict):
        return {k: mask_secrets(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item, key) for item in value]
    if key.lower() in SECRET_KEYS and value is not None:
        return MASK
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def mask_url(url: str) -> str:
    """``postgresql+psycopg://user:***@host/db``: the password of the user info and of secret query parameters."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL after all (e.g. a bad port)
        return url
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}"
    query = "&".join(
        f"{name}={MASK}" if sep and name.lower() in SECRET_KEYS else f"{name}{sep}{val}"
        for name, sep, val in (item.partition("=") for item in parts.query.split("&"))
    ) if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query))


# ------------------------------------------------------------------------------------------------ TOML text


def render_toml(data: dict[str, Any]) -> str:
    """Settings as TOML: a [table] per section, [[array]] tables for lists of tables; unset keys as comments."""
    lines: list[str] = []
    for name, value in data.items():
        _render_table([name], value, lines, array_item=False)
    return "\n".join(lines).rstrip("\n") + "\n"


def _render_table(path: list[str], table: dict[str, Any], lines: list[str], array_item: bool) -> None:
    header = ".".join(_key(part) for part in path)
    lines.append(f"[[{header}]]" if array_item else f"[{header}]")
    for key, value in table.items():
        if value is None:
            lines.append(f"# {_key(key)} is unset")
        elif not isinstance(value, dict) and not _is_table_array(value):
            lines.append(f"{_key(key)} = {json.dumps(value)}")  # JSON strings, numbers, booleans, arrays are TOML
    lines.append("")
    for key, value in table.items():
        if isinstance(value, dict):
            _render_table([*path, key], value, lines, array_item=False)
        elif _is_table_array(value):
            for item in value:
                _render_table([*path, key], item, lines, array_item=True)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


# ------------------------------------------------------------------------------------------------ warnings


def config_warnings(settings: Settings, raw: dict[str, Any]) -> list[str]:
    """What is valid but a user should know: missing files and folders, open ports, unchecked TLS, secrets in
    the file (``raw`` is the file's own content, to tell it from the environment)."""
    found: list[str] = []
    listener, tls = settings.listener, settings.listener.tls
    if listener.enabled and tls.enabled:
        for key in ("cert_file", "key_file", "ca_file"):
            path = getattr(tls, key)
            if path is not None and not path.is_file():
                found.append(f"listener.tls.{key}: {path} does not exist; `dicom-bridge serve` cannot start the TLS "
                             "listener")
    if listener.enabled and not _loopback(listener.bind_address) and not listener.allowed_calling_aets:
        found.append(
            f"listener.bind_address is {listener.bind_address} and listener.allowed_calling_aets is empty: any "
            f"host that reaches port {listener.port} can store into the bridge under any AE title")
    for inbox in settings.watch.inboxes:
        if not inbox.is_dir():
            found.append(f"watch.inboxes: {inbox} does not exist; the service warns at every scan until it is created")
    http = settings.http
    if http.enabled and not _loopback(http.bind_address):
        found.append(
            f"http.bind_address is {http.bind_address}, not loopback: the status page has no login and can replay "
            "dead letters; keep it on 127.0.0.1 or behind a reverse proxy that authenticates")
    raw_servers = raw.get("delivery", {}).get("fhir_servers", [])
    for index, server in enumerate(settings.delivery.fhir_servers):
        where = f"delivery.fhir_servers[{index}] ({server.name})"
        if not server.verify_tls:
            found.append(f"{where}.verify_tls = false: the server's certificate is not checked")
        if server.ca_file is not None and not server.ca_file.is_file():
            found.append(f"{where}.ca_file: {server.ca_file} does not exist")
        if server.auth.kind != "none" and urlsplit(server.base_url).scheme == "http":
            found.append(f"{where}.base_url is plain http: its {server.auth.kind} credentials travel unencrypted")
        raw_server = raw_servers[index] if isinstance(raw_servers, list) and index < len(raw_servers) else {}
        raw_auth = raw_server.get("auth", {}) if isinstance(raw_server, dict) else {}
        for key in ("token", "client_secret"):
            value = getattr(server.auth, key)
            if value and isinstance(raw_auth, dict) and raw_auth.get(key) == value:
                found.append(f"{where}.auth.{key} is written in the settings file; give it in the environment "
                             f"({ENV_PREFIX}DELIVERY__FHIR_SERVERS__{_env_name(server.name)}__AUTH__{key.upper()}) "
                             "and keep the file free of secrets")
    url = settings.store.url
    if url and _has_password(url) and raw.get("store", {}).get("url") == url:
        found.append(f"store.url has a password written in the settings file; give it in the environment "
                     f"({ENV_PREFIX}STORE__URL) or in ~/.pgpass")
    return found


def _env_name(name: str) -> str:
    """How a list item's name is written in a BRIDGE_ variable."""
    return re.sub(r"[-.]", "_", name).upper()


def _loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name, or "" (every interface)


def _has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def _raw(path: Path | None) -> dict[str, Any]:
    """The settings file's own keys (already known to parse)."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
