"""Integration fixtures: the PostgreSQL server the store tests use, when one answers, and a store on each backend."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from bridge.store import StateStore, open_store

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@functools.cache
def _postgres_problem(url: str) -> str | None:
    """Why the server at ``url`` cannot be used, or None when it answers (asked once per session)."""
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        engine.dispose()
    return None


def postgres_url_or_skip() -> str:
    """The test PostgreSQL URL (env BRIDGE_TEST_POSTGRES_URL); skips when no server answers.

    With BRIDGE_REQUIRE_POSTGRES=1 a missing server fails the test instead.
    """
    url = os.environ.get("BRIDGE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    problem = _postgres_problem(url)
    if problem is not None:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = f"PostgreSQL not available at {shown} ({problem}); set BRIDGE_TEST_POSTGRES_URL to use another server"
        if os.environ.get("BRIDGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"BRIDGE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture
def postgres_url() -> str:
    return postgres_url_or_skip()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state store URL on each backend (the PostgreSQL one skips when the server is absent)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    with open_store(store_url, fresh=True) as s:
        yield s
