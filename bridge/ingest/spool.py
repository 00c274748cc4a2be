"""The spool: received DICOM files made durable (temporary file, fsync, rename) under content-derived names.

Layout under the data directory::

    tmp/                             files being received or copied in; cleared at start-up
    spool/<d[0:2]>/<d>.dcm           one file per distinct content, d = SHA-256 of the bytes

Names come from the digest of the bytes, never from header values, so a SOP Instance UID such as
``../../x`` or one of 10,000 characters cannot choose or break a path; identical bytes sent twice land on
the same file.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import StoreError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Spooled:
    """A file that is durable in the spool."""

    path: Path
    size: int
    digest: str  # SHA-256 hex of the bytes


class Spool:
    """Durable storage of received files; every method raises StoreError, never a bare OSError."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "spool"
        self.tmp_dir = data_dir / "tmp"

    def prepare(self, older_than: float | None = None) -> int:
        """Create the folders and remove what an interrupted run left in tmp/; returns the files removed.

        ``older_than`` (seconds): only files not written to for that long, for a spool that other nodes share (their
        transfers in progress are left alone; a transfer silent that long has timed out)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            # All 256 fan-out folders exist before the first file, so receiving never creates (and syncs) one.
            for index in range(256):
                (self.root / f"{index:02x}").mkdir(exist_ok=True)
            _fsync_dir(self.root)
            return self.remove_partial(older_than)
        except OSError as exc:
            raise StoreError(f"spool {self.root}: {exc.strerror or exc}") from exc

    def remove_partial(self, older_than: float | None = None) -> int:
        """Remove the partial files in tmp/ (only those untouched for ``older_than`` seconds, when given)."""
        cutoff = None if older_than is None else time.time() - older_than
        removed = 0
        try:
            for leftover in self.tmp_dir.iterdir():
                try:
                    if leftover.is_file() and (cutoff is None or leftover.stat().st_mtime < cutoff):
                        leftover.unlink()
                        removed += 1
                except FileNotFoundError:  # finished or removed by its node meanwhile
                    continue
            return removed
        except OSError as exc:
            raise StoreError(f"spool {self.root}: {exc.strerror or exc}") from exc

    def new_temporary(self) -> tuple[int, Path]:
        """An open file descriptor and path of a new temporary file in tmp/."""
        try:
            fd, name = tempfile.mkstemp(prefix="in-", suffix=".part", dir=self.tmp_dir)
        except OSError as exc:
            raise StoreError(f"spool {self.tmp_dir}: {exc.strerror or exc}") from exc
        return fd, Path(name)

    def commit(self, tmp_path: Path, known: tuple[int, str] | None = None) -> Spooled:
        """Make the complete file at ``tmp_path`` durable in the spool: hash it, rename it into place, fsync it
        there, fsync the folder. ``tmp_path`` is gone afterwards, whatever happens. ``known`` (size, SHA-256)
        spares reading the file again when whoever wrote it hashed it on the way.

        The rename comes before the fsyncs: on a journalling file system (ext4, XFS) the file's fsync then
        commits the rename with the data, and the folder's finds nothing left to commit (one journal commit per
        instance instead of two, which is what concurrent associations wait on). Until both fsyncs return the
        instance is not acknowledged; a crash in between can leave a spool file whose content does not match
        its name, which start-up recovery recognises (``matches_its_name``) and does not record.

        Raises:
            StoreError: the file could not be made durable (disk full, I/O error, no permission).
        """
        try:
            size, digest = _check_size(tmp_path, known) if known is not None else _hash(tmp_path)
            final = self.path_for(digest)
            try:
                os.replace(tmp_path, final)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._copy_across(tmp_path, final)
            # Whatever file now bears the name (this one, or the same bytes committed meanwhile by another
            # association) is made durable before the answer.
            _fsync_file(final)
            _fsync_dir(final.parent)
            return Spooled(final, size, digest)
        except OSError as exc:
            _discard(tmp_path)
            raise StoreError(f"spool: cannot make {tmp_path.name} durable: {exc.strerror or exc}") from exc

    @staticmethod
    def matches_its_name(path: Path, digest: str) -> bool:
        """Whether a spool file whose content has SHA-256 ``digest`` holds the bytes its name says: false for a
        file a crash cut between its rename and its fsync (never acknowledged)."""
        return digest == path.stem

    def copy_in(self, source: Path) -> Spooled:
        """Copy ``source`` into the spool durably; ``source`` is left untouched.

        Raises:
            StoreError: the copy could not be made durable; OSError reading ``source`` is re-raised as is.
        """
        fd, tmp = self.new_temporary()
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)
        except OSError as exc:
            _discard(tmp)
            if not source.is_file():
                raise
            raise StoreError(f"spool: cannot copy {source}: {exc.strerror or exc}") from exc
        return self.commit(tmp)

    def digest_of(self, path: Path) -> tuple[int, str]:
        """Size and SHA-256 of a file that stays where it is (an inbox that leaves files in place)."""
        return _hash(path)

    def owns(self, path: str | Path) -> bool:
        """Whether ``path`` is a spool file (and not, say, a file left in place in an inbox)."""
        return Path(path).parent.parent == self.root

    def path_for(self, digest: str) -> Path:
        return self.root / digest[0:2] / f"{digest}.dcm"

    def remove(self, path: str | Path) -> None:
        """Remove a file that the store no longer references (best effort: a leftover is harmless)."""
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove replaced spool file %s: %s", path, exc.strerror or exc)

    def files(self) -> Iterator[Path]:
        """Every file in the spool (for reconciliation with the store)."""
        yield from self.root.glob("??/*.dcm")

    def _copy_across(self, tmp_path: Path, final: Path) -> None:
        """``tmp_path`` is on another file system (a receiver writing elsewhere): copy, sync, rename."""
        fd, local = self.new_temporary()
        with os.fdopen(fd, "wb") as out, open(tmp_path, "rb") as src:
            shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(local, final)
        _discard(tmp_path)


def _check_size(path: Path, known: tuple[int, str]) -> tuple[int, str]:
    size = os.stat(path).st_size
    if size != known[0]:
        raise OSError(errno.EIO, f"{path.name} holds {size} bytes, {known[0]} were written")
    return known


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _hash(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove temporary file %s: %s", path, exc.strerror or exc)
