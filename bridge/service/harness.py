"""Bridge: the whole service in-process, for test harnesses (a free port, a temporary data directory).

```python
with Bridge.running(tmp_path) as bridge:
    statuses = bridge.send(paths)            # C-STORE over a real association
    bridge.drop(more_paths)                  # or through the inbox
    bridge.wait_idle()                       # every study sealed and written
    study = bridge.imaging_study(study_uid)  # fhir.resources models
```
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bridge.errors import ServiceError
from bridge.service.runner import Service
from bridge.service.scu import echo, send_files
from bridge.settings import Settings
from bridge.store import StudyRecord

HARNESS_AE = "HARNESS"


class Bridge:
    """A started Service plus what a harness needs: send, drop, wait, read the output."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @classmethod
    @contextmanager
    def running(
        cls, data_dir: str | os.PathLike[str], *, quiet_period: float = 0.5, settings: Settings | None = None,
        **overrides: Any,
    ) -> Iterator[Bridge]:
        """Start the service with data, inbox and output under ``data_dir`` on a free loopback port.

        ``settings`` replaces the defaults; ``overrides`` are section dicts merged into them, e.g.
        ``listener={"allowed_calling_aets": ["CT1"]}``.
        """
        root = Path(data_dir)
        base: dict[str, Any] = {
            "service": {"data_dir": str(root / "data"), "output_dir": str(root / "out"), "workers": 2,
                        "poll_interval": 0.1},
            "listener": {"port": 0, "bind_address": "127.0.0.1", "ae_title": "DICOM_BRIDGE"},
            "grouping": {"quiet_period": quiet_period},
            "watch": {"inboxes": [str(root / "inbox")], "interval": 0.2},
            "http": {"port": 0, "bind_address": "127.0.0.1"},
        }
        if settings is not None:
            base = settings.model_dump(mode="json")
        for section, values in overrides.items():
            base.setdefault(section, {}).update(values)
        for inbox in base.get("watch", {}).get("inboxes", []):
            Path(inbox).mkdir(parents=True, exist_ok=True)
        resolved = Settings.model_validate(base)
        with Service(resolved) as service:
            yield cls(service)

    # ----------------------------------------------------------------------------------- input

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def ae_title(self) -> str:
        return self.service.settings.listener.ae_title

    def send(self, paths: Iterable[str | os.PathLike[str]], calling_ae: str = HARNESS_AE) -> list[int]:
        """C-STORE every file in one association; returns the DIMSE status of each.

        Raises:
            ServiceError: the association was rejected or aborted (the message says which).
        """
        return [sent.status for sent in send_files([Path(p) for p in paths], self.port, self.ae_title, calling_ae)]

    def echo(self, calling_ae: str = HARNESS_AE) -> int:
        """C-ECHO; returns the status.

        Raises:
            ServiceError: the association was rejected.
        """
        return echo(self.port, self.ae_title, calling_ae)

    @property
    def inbox(self) -> Path:
        inboxes = self.service.settings.watch.inboxes
        if not inboxes:
            raise ServiceError("no inbox is configured")
        return inboxes[0]

    def drop(self, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
        """Copy files into the inbox, each appearing at once under its final name (copy, then rename)."""
        dropped = []
        for index, path in enumerate(Path(p) for p in paths):
            target = self.inbox / f"{index:05d}-{path.name}"
            hidden = target.with_name(f".{target.name}.part")
            shutil.copyfile(path, hidden)
            hidden.rename(target)
            dropped.append(target)
        return dropped

    # ----------------------------------------------------------------------------------- output

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until every received instance is placed and every study sealed.

        Raises:
            TimeoutError: not idle after ``timeout`` seconds.
        """
        if not self.service.wait_idle(timeout):
            raise TimeoutError(f"the bridge is not idle after {timeout} s")

    @property
    def output_dir(self) -> Path:
        return self.service.output_dir

    def studies(self) -> list[StudyRecord]:
        assert self.service.store is not None
        return self.service.store.studies()

    def study_folder(self, study_uid: str) -> Path:
        from bridge.sinks.files import study_folder

        return study_folder(self.output_dir, study_uid)

    def imaging_study(self, study_uid: str) -> Any:
        """The emitted ImagingStudy as a fhir.resources model."""
        from fhir.resources.imagingstudy import ImagingStudy

        return ImagingStudy.model_validate_json((self.study_folder(study_uid) / "ImagingStudy.json").read_bytes())

    def report_bundles(self, study_uid: str) -> list[Any]:
        """The emitted report document Bundles of a study, as fhir.resources models, by file name."""
        from fhir.resources.bundle import Bundle

        folder = self.study_folder(study_uid)
        return [Bundle.model_validate_json(p.read_bytes()) for p in sorted(folder.glob("report-*.json"))]
