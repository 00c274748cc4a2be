"""The folder watch: inbox folders scanned on a schedule; a file is taken once it has stopped changing.

A file is stable when its size and modification time are the same in two scans in a row, so a file
still being copied in is left alone. Taken files go through the same Intake as network input; files that
are not DICOM go to the quarantine with their reason.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from bridge.errors import StoreError
from bridge.ingest.intake import Intake
from bridge.ingest.quarantine import Quarantine
from bridge.metrics import DiskReserve
from bridge.model import InstanceIdentity
from bridge.settings import WatchSettings

log = logging.getLogger(__name__)

Signature = tuple[int, int]  # (size, mtime_ns)
Identify = Callable[[Path], InstanceIdentity | str]  # the UIDs of a file, or why it cannot be used


class FolderWatch:
    """Scans ``settings.inboxes`` every ``settings.interval`` seconds."""

    def __init__(self, settings: WatchSettings, intake: Intake, quarantine: Quarantine, identify: Identify,
                 reserve: DiskReserve | None = None) -> None:
        self.settings = settings
        self.reserve = reserve
        self._paused: str | None = None
        self.identify = identify
        self.intake = intake
        self.quarantine = quarantine
        self._seen: dict[Path, Signature] = {}  # candidates: signature at the last scan
        self._taken: dict[Path, Signature] = {}  # left-in-place files already recorded
        self.taken = 0

    def run(self, stop: threading.Event) -> None:
        """Scan until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.scan()
            except StoreError as exc:
                log.error("inbox scan stopped early, retrying: %s", exc, extra={"event": "watch.failed"})
            stop.wait(self.settings.interval)

    def scan(self) -> int:
        """One scan of every inbox; returns the number of files taken. While the spool's disk is below its
        reserve nothing is taken: the files wait in their inbox."""
        if self._below_reserve():
            return 0
        current: dict[Path, Signature] = {}
        for inbox in self.settings.inboxes:
            for path in self._candidates(inbox):
                try:
                    stat = path.stat()
                except OSError:
                    continue  # gone since the listing
                current[path] = (stat.st_size, stat.st_mtime_ns)
        taken = 0
        for path, signature in sorted(current.items()):
            if self._taken.get(path) == signature:
                continue
            if self._seen.get(path) != signature:
                continue  # new or still changing: look again next scan
            if self._take(path, signature):
                taken += 1
        self._seen = current
        self._taken = {p: s for p, s in self._taken.items() if p in current}
        self.taken += taken
        return taken

    def _below_reserve(self) -> bool:
        low = self.reserve.refusal() if self.reserve is not None and self.settings.move_to_spool else None
        if low is not None and self._paused is None:
            log.warning("inboxes paused: %s", low, extra={"event": "watch.paused"})
        elif low is None and self._paused is not None:
            log.info("inboxes resumed: the spool's disk is above its reserve again", extra={"event": "watch.resumed"})
        self._paused = low
        return low is not None

    def _candidates(self, inbox: Path) -> Iterator[Path]:
        if not inbox.is_dir():
            log.warning("inbox %s does not exist", inbox, extra={"event": "watch.missing_inbox", "path": str(inbox)})
            return
        walker = os.walk(inbox) if self.settings.recursive else [(str(inbox), [], os.listdir(inbox))]
        for folder, dirs, names in walker:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith(".") or not any(fnmatch.fnmatch(name, p) for p in self.settings.patterns):
                    continue  # hidden files are partial copies by convention (rsync, scp)
                path = Path(folder) / name
                if path.is_file():
                    yield path

    def _take(self, path: Path, signature: Signature) -> bool:
        source = f"folder {path.parent}"
        identity = self.identify(path)
        if not isinstance(identity, InstanceIdentity):
            if path.is_file():
                self._quarantine(path, identity, source, signature)
            return False
        if self.settings.move_to_spool:
            self.intake.take_copy(path, identity.sop_class_uid, identity.sop_instance_uid, source, None)
            path.unlink(missing_ok=True)  # only once the copy is durable and recorded
        else:
            self.intake.take_in_place(path, identity.sop_class_uid, identity.sop_instance_uid, source)
            self._taken[path] = signature
        log.debug("took %s", path, extra={"event": "file.taken", "path": str(path)})
        return True

    def _quarantine(self, path: Path, reason: str, source: str, signature: Signature) -> None:
        if self.settings.move_to_spool:
            self.quarantine.put(path, reason, source)
        else:
            log.warning("cannot use %s: %s", path, reason, extra={"event": "file.rejected", "path": str(path)})
            self._taken[path] = signature
