"""Integration fixtures: the PostgreSQL server the store tests use, when one answers."""

from __future__ import annotations

import functools
import os

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

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
