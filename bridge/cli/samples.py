"""``dicom-bridge samples DIR``: write the project's deterministic sample studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bridge.cli.common import console


def samples_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the sample DICOM files into (created if missing).")],
) -> None:
    """Write the sample CT chest study and its TID 2000 report SR (same bytes on every run)."""
    from bridge.samples import write_samples  # highdicom is heavy; only this command needs it

    paths = write_samples(out_dir)
    total = sum(p.stat().st_size for p in paths)
    console.print(f"wrote {len(paths)} files ({total / 1024:.0f} KiB) under {out_dir}")
