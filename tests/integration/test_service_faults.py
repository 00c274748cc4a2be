"""Faults under a running service: the state store goes away and comes back (a real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bridge.service.harness import Bridge
from bridge.store import StudyState
from tests.conftest import SAMPLE_DICOM
from tests.integration.conftest import postgres_url_or_skip

FAULT_DB = "bridge_fault_test"
FILES = sorted((SAMPLE_DICOM / "ct-chest" / "series-1").glob("*.dcm"))


@pytest.fixture
def fault_database() -> Iterator[tuple[str, object]]:
    """A database of its own (so cutting it off disturbs nothing else) and an admin engine to do it with."""
    url = make_url(postgres_url_or_skip())
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {FAULT_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {FAULT_DB}"))
    try:
        yield url.set(database=FAULT_DB).render_as_string(hide_password=False), admin
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {FAULT_DB} ALLOW_CONNECTIONS true"))
            conn.execute(text(f"DROP DATABASE IF EXISTS {FAULT_DB} WITH (FORCE)"))
        admin.dispose()


def cut_off(admin: object, allowed: bool) -> None:
    with admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f"ALTER DATABASE {FAULT_DB} ALLOW_CONNECTIONS {str(allowed).lower()}"))
        if not allowed:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{FAULT_DB}'"))


def test_store_unavailable_gives_out_of_resources_then_recovers(
    tmp_path: Path, fault_database: tuple[str, object]
) -> None:
    url, admin = fault_database
    with Bridge.running(tmp_path, store={"url": url}) as bridge:
        assert bridge.send(FILES[:2]) == [0x0000, 0x0000]
        bridge.wait_idle()

        cut_off(admin, allowed=False)
        assert bridge.send(FILES[2:4]) == [0xA700, 0xA700]
        assert list((bridge.service.data_dir / "tmp").iterdir()) == []  # nothing half-written stays
        assert bridge.echo() == 0x0000  # the service keeps running

        cut_off(admin, allowed=True)
        assert bridge.send(FILES[2:4]) == [0x0000, 0x0000]
        bridge.wait_idle()
        [study] = bridge.studies()
        assert study.state is StudyState.SEALED
        assert study.instance_count == 4
        assert bridge.imaging_study(study.study_instance_uid).numberOfInstances == 4
