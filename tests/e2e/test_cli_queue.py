"""`status`, `deadletters` and `replay` through the real entry point, against the store of a real `serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread

from bridge.service.scu import send_files
from tests.conftest import REPO, SAMPLE_DICOM
from tests.e2e.conftest import AE_TITLE, ServeConfig, ServeProcess, query, wait_for, wait_sealed, write_config
from tests.fault_proxy import free_port

SAMPLE_FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))
HEADER = dcmread(SAMPLE_FILES[0], stop_before_pixels=True)
STUDY_UID = str(HEADER.StudyInstanceUID)


def cells(output: str, key: str) -> list[str]:
    """The cells of the table row holding ``key`` (rich draws the columns with │)."""
    line = next(line for line in output.splitlines() if key in line)
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


def cli(config: ServeConfig, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(COLUMNS="250", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "bridge", *args, "--config", str(config.path)], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=120)


def test_status_deadletters_and_replay(tmp_path: Path, serve: Callable[[ServeConfig], ServeProcess]) -> None:
    sink = {"name": "national", "base_url": f"http://127.0.0.1:{free_port()}/fhir", "max_attempts": 1}
    config = write_config(tmp_path, delivery={"fhir_servers": [sink], "poll_interval": 0.1})
    server = serve(config)
    assert {r.status for r in send_files(SAMPLE_FILES, server.port, AE_TITLE, "CT01")} == {0x0000}
    wait_sealed(config, STUDY_UID, 1, len(SAMPLE_FILES))
    wait_for(lambda: query(config.state_db, "SELECT delivery_id FROM deliveries WHERE state = 'dead'"),
             "the dead letter", 30)
    [(delivery_id,)] = query(config.state_db, "SELECT delivery_id FROM deliveries")

    status = cli(config, "status", "--wait-idle", "5")
    assert status.returncode == 0, status.stdout + status.stderr
    row = cells(status.stdout, STUDY_UID)
    assert row[:6] == [STUDY_UID, str(HEADER.AccessionNumber), "CT, DOC, KO, SR", "sealed", "1", str(len(SAMPLE_FILES))]
    assert "waiting: 0 instances to place, 0 studies open, 0 building" in status.stdout
    assert "delivery to national: 0 delivered, 0 queued, 1 dead letters (dicom-bridge deadletters)" in status.stdout

    listed = cli(config, "deadletters")
    assert listed.returncode == 1  # there are dead letters
    dead_row = cells(listed.stdout, STUDY_UID)
    assert dead_row[:5] == [str(delivery_id), STUDY_UID, "1", "national", "1"]
    assert "connect" in dead_row[-1].lower() and "1 dead letter(s)" in listed.stdout
    assert cli(config, "deadletters", "--sink", "elsewhere").returncode == 0

    usage = cli(config, "replay")
    assert usage.returncode == 2 and "name the dead letters to replay, or --all" in usage.stderr
    unknown = cli(config, "replay", "999")
    assert unknown.returncode == 1 and "not dead letters: 999" in unknown.stdout

    replayed = cli(config, "replay", str(delivery_id))
    assert replayed.returncode == 0 and f"re-queued: {delivery_id}" in replayed.stdout
    # the sink is still down: the serve process sends it again (attempts start over) and dead-letters it again
    wait_for(lambda: query(config.state_db, "SELECT state, attempts FROM deliveries") == [("dead", 1)]
             and server.log().count("dead-lettered delivery") == 2,
             "the replayed delivery to be attempted again", 30)
    assert server.stop() == 0


def test_status_wait_idle_exits_1_while_a_study_is_open(
    tmp_path: Path, serve: Callable[[ServeConfig], ServeProcess]
) -> None:
    config = write_config(tmp_path, quiet_period=600)  # seals in ten minutes: still open when status looks
    server = serve(config)
    assert {r.status for r in send_files(SAMPLE_FILES[:2], server.port, AE_TITLE, "CT01")} == {0x0000}
    wait_for(lambda: query(config.state_db, "SELECT state FROM studies") == [("open",)], "the open study", 30)
    assert server.stop() == 0
    status = cli(config, "status", "--wait-idle", "1")
    assert status.returncode == 1, status.stdout
    assert "0 instances to place, 1 studies open" in status.stdout
    assert cells(status.stdout, STUDY_UID)[3:6] == ["open", "0", "2"]
