"""Files and folders given on the command line or to the Python API, expanded to a sorted file list."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Every regular file under ``paths`` (folders recursively), each once, in sorted order per folder.

    Hidden files and folders (names starting with '.') are skipped. A path that does not exist is
    yielded as is, so that reading it reports the error with its name.
    """
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        root = os.path.realpath(path)  # a file named twice (overlapping arguments) is read once
        candidates = _walk(path) if path.is_dir() else iter([path])
        for candidate in candidates:
            key = os.path.join(root, os.path.relpath(candidate, path)) if candidate != path else root
            if key not in seen:
                seen.add(key)
                yield candidate


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name
