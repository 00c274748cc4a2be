"""The README's harness example runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import REPO


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Python API for test harnesses") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the harness section has no python example"
    return match.group(1)


def test_readme_harness_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    namespace: dict[str, object] = {"tmp_dir": tmp_path}
    exec(compile(readme_example(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["statuses"] == [0] * 25
    assert os.path.isdir(tmp_path / "out")
