"""The quarantine folder: files that cannot be used, each with a reason file beside it."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

REASON_SUFFIX = ".reason.txt"


class Quarantine:
    """Moves unusable files aside (``<data_dir>/quarantine/``) so that nothing is lost or silently dropped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, path: Path, reason: str, source: str) -> Path:
        """Move ``path`` into the quarantine with ``<name>.reason.txt`` beside it; returns the new path.

        The name is ``<UTC time>-<short id>-<original name>`` with the original name reduced to safe
        characters, so two files of the same name never collide and no name can leave the folder.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{stamp}-{uuid.uuid4().hex[:8]}-{safe_file_name(path.name)}"
        target = self.folder / name
        try:
            shutil.move(path, target)
        except FileNotFoundError:
            target = self.folder / f"{name}.missing"
        (self.folder / f"{name}{REASON_SUFFIX}").write_text(
            f"file: {path}\nsource: {source}\nquarantined: {stamp}\nreason: {reason}\n", encoding="utf-8"
        )
        log.warning(
            "quarantined %s from %s: %s",
            path,
            source,
            reason,
            extra={"event": "file.quarantined", "path": str(path), "quarantined_as": str(target)},
        )
        return target

    def entries(self) -> list[tuple[Path, str]]:
        """(quarantined file, reason) for everything in the quarantine, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for reason_file in sorted(self.folder.glob(f"*{REASON_SUFFIX}")):
            reason = next(
                (
                    line.removeprefix("reason: ")
                    for line in reason_file.read_text(encoding="utf-8").splitlines()
                    if line.startswith("reason: ")
                ),
                "",
            )
            found.append((reason_file.with_name(reason_file.name.removesuffix(REASON_SUFFIX)), reason))
        return found


def safe_file_name(name: str, limit: int = 100) -> str:
    """``name`` reduced to letters, digits, '.', '-' and '_', at most ``limit`` characters, never empty."""
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in ".-_") else "_" for ch in name)
    cleaned = cleaned.lstrip(".")[:limit]
    return cleaned or "unnamed"

