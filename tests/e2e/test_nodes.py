"""Two `dicom-bridge serve` nodes on one PostgreSQL store and one shared data folder: a study whose instances
arrive at both nodes is sealed and emitted once per revision, by whichever node claims it."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from sqlalchemy import create_engine, make_url, text

from bridge.service.scu import send_files
from tests.conftest import SAMPLE_DICOM
from tests.e2e.conftest import AE_TITLE, ServeConfig, ServeProcess, wait_for, write_config
from tests.integration.conftest import postgres_url_or_skip

SAMPLE_FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))
STUDY_UID = str(dcmread(SAMPLE_FILES[0], stop_before_pixels=True).StudyInstanceUID)


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database of its own for the test, dropped afterwards."""
    server = postgres_url_or_skip()
    name = f"bridge_nodes_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def node_config(root: Path, shared: Path, url: str, name: str, **sections: dict[str, Any]) -> ServeConfig:
    service = {"data_dir": shared / "data", "output_dir": shared / "out", "lease": 5.0}
    config = write_config(root / name, quiet_period=1.0, store={"url": url}, service=service, **sections)
    return ServeConfig(config.path, shared / "data", shared / "out")


def study_rows(url: str) -> list[tuple[str, int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [(r.state, r.revision) for r in conn.execute(text("SELECT state, revision FROM studies"))]
    finally:
        engine.dispose()


def sealed_lines(*nodes: ServeProcess) -> list[str]:
    return [line for node in nodes for line in node.log().splitlines() if "sealed study" in line]


def test_a_study_split_over_two_nodes_is_emitted_once_per_revision(
    tmp_path: Path, database: str, serve: Callable[[ServeConfig], ServeProcess]
) -> None:
    shared = tmp_path / "shared"
    first = serve(node_config(tmp_path, shared, database, "node-a"))
    second = serve(node_config(tmp_path, shared, database, "node-b"))
    halves = {first.port: SAMPLE_FILES[0::2][:-1], second.port: SAMPLE_FILES[1::2]}
    straggler = SAMPLE_FILES[0::2][-1]
    statuses: dict[int, set[int]] = {}

    def send(port: int) -> None:
        statuses[port] = {r.status for r in send_files(halves[port], port, AE_TITLE, "CT01")}

    threads = [threading.Thread(target=send, args=(port,)) for port in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {first.port: {0x0000}, second.port: {0x0000}}
    wait_for(lambda: study_rows(database) == [("sealed", 1)], "revision 1 sealed", 60)
    index = json.loads((shared / "out" / STUDY_UID / "index.json").read_text())
    assert index["revision"] == 1

    assert {r.status for r in send_files([straggler], second.port, AE_TITLE, "CT01")} == {0x0000}
    wait_for(lambda: study_rows(database) == [("sealed", 2)], "revision 2 sealed", 60)
    wait_for(lambda: len(sealed_lines(first, second)) == 2, "two seal lines", 10)
    assert first.stop() == 0 and second.stop() == 0

    lines = sealed_lines(first, second)
    # each revision built once, by one of the nodes (whichever claimed it: the logs are read node by node)
    assert sorted(line.split("sealed study ")[1].split(" (")[0] for line in lines) == [
        f"{STUDY_UID} revision 1", f"{STUDY_UID} revision 2"]
    study = json.loads((shared / "out" / STUDY_UID / "ImagingStudy.json").read_text())
    assert study["numberOfInstances"] == len(SAMPLE_FILES)
    engine = create_engine(database)
    with engine.connect() as conn:
        sources = conn.execute(
            text("SELECT count(*), count(DISTINCT path) FROM instances WHERE state = 'parsed'")).one()
    engine.dispose()
    assert tuple(sources) == (len(SAMPLE_FILES), len(SAMPLE_FILES))
