"""Operations commands through the real entry point: echo, send --peer, config check, the exit codes in --help."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bridge.settings import Settings, load_settings
from tests.conftest import REPO, SAMPLE_DICOM
from tests.e2e.conftest import AE_TITLE, Dcmtk, ServeConfig, ServeProcess, wait_for, write_config

STORESCP_AE = "STORESCP"
SECRET = "s3cret-from-the-environment"
PRODUCTION = REPO / "config" / "production.toml"
SUBCOMMANDS = ("echo", "send", "config", "status", "deadletters", "replay", "serve", "convert", "validate", "samples")


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m bridge ARGS`` with only ``env`` of the BRIDGE_SECTION__KEY variables."""
    base = {k: v for k, v in os.environ.items() if not (k.startswith("BRIDGE_") and "__" in k)}
    full = {**base, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd or REPO, env=full, timeout=120
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SECRET_VARIABLE = "BRIDGE_DELIVERY__FHIR_SERVERS__NATIONAL_NODE__AUTH__CLIENT_SECRET"


def production_environment() -> dict[str, str]:
    """The secret variable production.toml documents, with a secret filled in."""
    assert SECRET_VARIABLE in PRODUCTION.read_text()
    return {SECRET_VARIABLE: SECRET}


# ------------------------------------------------------------------------------------------------ a DCMTK storescp


@dataclass(frozen=True)
class StoreScp:
    port: int
    output: Path


@pytest.fixture
def storescp(tmp_path: Path, dcmtk: Dcmtk) -> Iterator[StoreScp]:
    """DCMTK's storescp (AE STORESCP) on a free port, writing what it receives to its own folder."""
    output = tmp_path / "storescp"
    output.mkdir()
    port = free_port()
    with open(tmp_path / "storescp.log", "wb") as log:
        process = subprocess.Popen(
            [dcmtk.tools["storescp"], "--aetitle", STORESCP_AE, "--output-directory", str(output), str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TCP_NODELAY": "1"},
        )
    try:

        def listening() -> bool:
            if process.poll() is not None:
                log_text = (tmp_path / "storescp.log").read_text()
                raise AssertionError(f"storescp exited with {process.returncode}: {log_text}")
            return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                       for c in psutil.Process(process.pid).net_connections("tcp"))

        wait_for(listening, f"storescp to listen on port {port}", 20)
        yield StoreScp(port, output)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def peers_config(tmp_path: Path, scp_port: int, closed_port: int) -> Path:
    path = tmp_path / "peers.toml"
    path.write_text(
        f'[peers.scp]\nae_title = "{STORESCP_AE}"\nhost = "127.0.0.1"\nport = {scp_port}\ntimeout = 10.0\n\n'
        f'[peers.closed]\nae_title = "NOBODY"\nhost = "127.0.0.1"\nport = {closed_port}\ntimeout = 5.0\n',
        encoding="utf-8",
    )
    return path


# ------------------------------------------------------------------------------------------------ echo


def test_echo_a_named_peer_prints_success_and_the_round_trip(tmp_path: Path, storescp: StoreScp) -> None:
    config = peers_config(tmp_path, storescp.port, free_port())
    done = run("echo", "scp", "--config", str(config), "--count", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    for line in lines[:2]:
        assert re.fullmatch(rf"scp \({STORESCP_AE}@127\.0\.0\.1:{storescp.port}\): Success, \d+\.\d ms", line), line
    assert lines[2].startswith("2 echoes, 2 succeeded; round trip min/avg/max ")


def test_echo_options_override_the_named_peer(tmp_path: Path, storescp: StoreScp) -> None:
    config = peers_config(tmp_path, free_port(), free_port())
    done = run("echo", "closed", "-c", str(config), "--port", str(storescp.port), "--aec", STORESCP_AE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"closed ({STORESCP_AE}@127.0.0.1:{storescp.port}): Success" in done.stdout


def test_echo_to_a_closed_port_exits_4_cannot_connect(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    done = run("echo", "closed", "-c", str(peers_config(tmp_path, free_port(), port)))
    assert done.returncode == 4, done.stdout + done.stderr
    assert f"closed (NOBODY@127.0.0.1:{port}): cannot connect: " in done.stdout
    assert "Connection refused" in done.stdout
    assert "Association request failed" not in done.stderr  # pynetdicom's own lines are not repeated
    done = run("echo", "--host", "127.0.0.1", "--port", str(port), "--aec", "NOBODY")  # no peer name: options only
    assert done.returncode == 4, done.stdout + done.stderr
    assert f"NOBODY@127.0.0.1:{port}: cannot connect: " in done.stdout


def test_echo_with_a_wrong_called_ae_is_rejected_exit_1(
    tmp_path: Path, serve: Callable[[ServeConfig], ServeProcess]
) -> None:
    config = write_config(tmp_path, service={"workers": 1})  # require_called_aet is on by default
    server = serve(config)
    port = str(server.port)
    done = run("echo", "--config", str(config.path), "--port", port, "--aec", "WRONG_AE")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"WRONG_AE@127.0.0.1:{port}: association rejected: Called AE title not recognised" in done.stdout
    # without --aec the called AE is the listener's own, from the same settings file
    done = run("echo", "--config", str(config.path), "--port", port)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{AE_TITLE}@127.0.0.1:{port}: Success" in done.stdout


def test_an_unknown_peer_is_a_configuration_error_naming_the_known_ones(tmp_path: Path) -> None:
    config = peers_config(tmp_path, free_port(), free_port())
    for args in (("echo", "nowhere"), ("send", str(SAMPLE_DICOM), "--peer", "nowhere")):
        done = run(*args, "--config", str(config))
        assert done.returncode == 3, done.stdout + done.stderr
        message = " ".join(done.stderr.split())
        assert "no peer 'nowhere'" in message and "known peers: closed, scp" in message


# ------------------------------------------------------------------------------------------------ send --peer


def test_send_to_a_named_peer_stores_every_file(tmp_path: Path, storescp: StoreScp) -> None:
    samples = sorted(SAMPLE_DICOM.rglob("*.dcm"))
    config = peers_config(tmp_path, storescp.port, free_port())
    done = run("send", str(SAMPLE_DICOM), "--peer", "scp", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    n = len(samples)
    assert f"{n} of {n} instances stored at {STORESCP_AE}@127.0.0.1:{storescp.port}" in done.stdout

    def received() -> bool:
        return len([p for p in storescp.output.iterdir() if p.is_file()]) == len(samples)

    wait_for(received, f"{len(samples)} files in {storescp.output}", 20)


# ------------------------------------------------------------------------------------------------ config check


def test_config_check_prints_the_reference_settings_as_toml() -> None:
    done = run("config", "check", "--config", "config/bridge.toml")
    assert done.returncode == 0, done.stderr
    assert "[listener]" in done.stdout.splitlines()
    assert 'ae_title = "DICOM_BRIDGE"' in done.stdout.splitlines()
    assert "config/bridge.toml: valid, 0 warning(s)" in done.stderr
    # the text is TOML that gives the same settings back
    assert Settings.model_validate(tomllib.loads(done.stdout)) == load_settings(REPO / "config" / "bridge.toml", {})


def test_config_check_of_production_masks_the_secret_and_warns_on_stderr() -> None:
    done = run("config", "check", "-c", str(PRODUCTION), env=production_environment())
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout and SECRET not in done.stderr
    assert 'client_secret = "***"' in done.stdout
    assert 'url = "postgresql+psycopg://bridge@db.example.org/bridge"' in done.stdout
    assert "[[delivery.fhir_servers]]" in done.stdout and "[peers.pacs]" in done.stdout
    assert f"{SECRET_VARIABLE} from the environment" in done.stdout
    for key in ("cert_file", "key_file", "ca_file"):
        path = getattr(load_settings(PRODUCTION, production_environment()).listener.tls, key)
        if not path.exists():
            assert f"warning: listener.tls.{key}: {path} does not exist" in done.stderr
    assert "listener.tls" not in done.stdout.replace("[listener.tls]", "")  # warnings are not on stdout
    assert "warning" not in done.stdout


def test_config_check_of_production_without_the_secret_exits_3_naming_the_key() -> None:
    done = run("config", "check", "-c", str(PRODUCTION))
    assert done.returncode == 3
    assert "delivery.fhir_servers.0.auth" in done.stderr and "client_secret" in done.stderr


def test_config_check_json_parses() -> None:
    done = run("config", "check", "--json", "-c", str(PRODUCTION), env=production_environment())
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["delivery"]["fhir_servers"][0]["auth"]["client_secret"] == "***"
    assert data["listener"]["tls"]["enabled"] is True
    assert data["peers"]["pacs"]["ae_title"] == "PACS"
    assert SECRET not in done.stdout


def test_config_check_masks_passwords_and_warns_about_risky_settings(tmp_path: Path) -> None:
    config = tmp_path / "risky.toml"
    config.write_text(
        '[listener]\nbind_address = "0.0.0.0"\n\n[http]\nbind_address = "0.0.0.0"\n\n'
        '[watch]\ninboxes = ["' + str(tmp_path / "no-inbox") + '"]\n\n'
        '[store]\nurl = "postgresql+psycopg://bridge:hunter2@db.example.org/bridge"\n\n'
        '[[delivery.fhir_servers]]\nname = "lab"\nbase_url = "https://fhir.example.org/fhir"\nverify_tls = false\n\n'
        '[delivery.fhir_servers.auth]\nkind = "bearer"\ntoken = "tok-in-the-file"\n',
        encoding="utf-8",
    )
    done = run("config", "check", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert "hunter2" not in done.stdout + done.stderr and "tok-in-the-file" not in done.stdout + done.stderr
    assert 'url = "postgresql+psycopg://bridge:***@db.example.org/bridge"' in done.stdout
    assert 'token = "***"' in done.stdout
    for expected in (
        "listener.bind_address is 0.0.0.0 and listener.allowed_calling_aets is empty",
        "http.bind_address is 0.0.0.0, not loopback",
        f"watch.inboxes: {tmp_path / 'no-inbox'} does not exist",
        "delivery.fhir_servers[0] (lab).verify_tls = false",
        "delivery.fhir_servers[0] (lab).auth.token is written in the settings file",
        "store.url has a password written in the settings file",
    ):
        assert expected in done.stderr, expected
    assert f"{config}: valid, 6 warning(s)" in done.stderr


def test_config_check_bad_key_or_value_exits_3_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[listener]\nae_titel = "X"\n', encoding="utf-8")
    done = run("config", "check", "-c", str(config))
    assert done.returncode == 3
    assert "listener.ae_titel" in done.stderr
    done = run("config", "check", "-c", "config/bridge.toml", env={"BRIDGE_LISTENER__PORT": "not-a-port"})
    assert done.returncode == 3
    assert "listener.port" in done.stderr


# ------------------------------------------------------------------------------------------------ help


def test_help_lists_the_exit_codes_and_every_command_has_help() -> None:
    done = run("--help")
    assert done.returncode == 0
    assert "Exit status:" in done.stdout
    for code, meaning in ((0, "success"), (1, "problems"), (2, "usage error"), (3, "configuration error"),
                          (4, "service error")):
        assert re.search(rf"^\s*{code}\s+{meaning}", done.stdout, re.MULTILINE), (code, done.stdout)
    for sub in SUBCOMMANDS:
        summary = re.search(rf"│ {sub}\s+(\S.*?)\s*│", done.stdout)
        assert summary and summary[1], f"{sub} has no summary in --help"
        sub_help = run(sub, "--help")
        assert sub_help.returncode == 0, sub
        assert "Usage:" in sub_help.stdout and summary[1][:30] in sub_help.stdout, sub
    check = run("config", "check", "--help")
    assert check.returncode == 0 and "--json" in check.stdout and "secrets masked" in check.stdout
