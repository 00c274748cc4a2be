"""convert(paths): the Python API used by the CLI, tests and harnesses."""

from __future__ import annotations

import logging
import multiprocessing
import os
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.errors import InputError, NotAnInstanceError
from bridge.extract.read import read_header
from bridge.ingest.files import iter_files
from bridge.model import Finding, InstanceHeader
from bridge.settings import FhirSettings, ManifestSettings, Settings

if TYPE_CHECKING:  # the FHIR side is imported while worker processes read headers (see _read_all)
    from bridge.pipeline import StudyOutput
    from bridge.validate import Violation

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class Rejected:
    """An input that could not be used, and why."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConversionResult:
    """What convert() made of its inputs: one StudyOutput per study, and every file it could not use."""

    studies: tuple[StudyOutput, ...]
    rejected: tuple[Rejected, ...]
    skipped: tuple[Rejected, ...]
    files_read: int
    violations: dict[str, tuple[Violation, ...]] = field(default_factory=dict)  # bundle id -> errors

    @property
    def ok(self) -> bool:
        return not self.rejected and not any(self.violations.values())

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for s in self.studies for f in s.findings)


Progress = Callable[[int], None]
PARALLEL_MIN_FILES_PER_WORKER = 100  # below this a worker process costs more than it saves


def convert(
    paths: Iterable[str | os.PathLike[str]],
    settings: Settings | FhirSettings | None = None,
    *,
    progress: Progress | None = None,
    validate: bool = True,
    workers: int | None = None,
) -> ConversionResult:
    """Read every file under ``paths``, group by Study Instance UID, build each study's FHIR resources.

    Files that cannot be used are listed in ``rejected`` with the reason; the rest goes on. ``progress``
    is called with the number of files done. Headers are read by ``workers`` processes (default: one per
    core) when there are enough files to pay for them. With ``validate``, every report bundle is checked
    with the project's validator and its error violations are kept in ``violations``.
    """
    fhir_settings = _fhir_settings(settings)
    manifest_settings = settings.manifest if isinstance(settings, Settings) else None
    files = list(iter_files(paths))
    by_study: dict[str, list[InstanceHeader]] = defaultdict(list)
    rejected: list[Rejected] = []
    skipped: list[Rejected] = []
    with ExitStack() as stack:
        outcomes = _read_all(files, workers, stack)
        _import_fhir_side()  # overlaps with the workers' reading
        for done, (path, outcome) in enumerate(outcomes, start=1):
            if isinstance(outcome, InstanceHeader):
                by_study[outcome.study_instance_uid].append(outcome)
            else:
                _report_unusable(path, outcome, rejected, skipped)
            if progress is not None:
                progress(done)
    studies = []
    violations: dict[str, tuple[Violation, ...]] = {}
    for study_uid in sorted(by_study):
        output = _build_one(study_uid, by_study[study_uid], fhir_settings, manifest_settings, rejected)
        if output is None:
            continue
        studies.append(output)
        if validate:
            violations.update(_check_reports(output))
    return ConversionResult(tuple(studies), tuple(rejected), tuple(skipped), len(files), violations)


Outcome = InstanceHeader | InputError | str  # a header, the error that rejects the file, or an unexpected error


def _read_all(files: list[Path], workers: int | None, stack: ExitStack) -> Iterator[tuple[Path, Outcome]]:
    """(path, outcome) for every file, in order; all work is handed to worker processes before this returns
    when the batch is large enough to pay for them."""
    count = min(workers or os.cpu_count() or 1, max(1, len(files) // PARALLEL_MIN_FILES_PER_WORKER))
    if count <= 1:
        return zip(files, map(read_outcome, files), strict=True)
    # fork: workers inherit the imported modules, so a batch pays no start-up; they only read files.
    pool = stack.enter_context(ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork")))
    return zip(files, pool.map(read_outcome, files, chunksize=32), strict=True)


def _import_fhir_side() -> None:
    """Import the FHIR builders (fhir.resources takes a while) once the workers are started."""
    import bridge.pipeline  # noqa: F401


def read_outcome(path: Path) -> Outcome:
    """The header of ``path``, or what makes it unusable; never raises, so a batch always goes on."""
    try:
        return read_header(path)
    except InputError as exc:
        return exc
    except OSError as exc:
        return InputError(str(path), f"cannot be read: {exc.strerror or exc}")
    except Exception as exc:  # a library bug must not end the batch: the file is reported instead
        return f"unexpected error while reading: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"


def _report_unusable(path: Path, outcome: InputError | str, rejected: list[Rejected], skipped: list[Rejected]) -> None:
    source = str(path)
    if isinstance(outcome, NotAnInstanceError):
        skipped.append(Rejected(source, outcome.reason))
        log.info("skipped %s", outcome, extra={"event": "file.skipped", "path": source})
    elif isinstance(outcome, InputError):
        rejected.append(Rejected(source, reason_of(outcome)))
        log.warning("rejected %s", outcome, extra={"event": "file.rejected", "path": source})
    else:
        reason, _, trace = outcome.partition("\n")
        rejected.append(Rejected(source, reason))
        log.error("rejected %s: %s", source, reason, extra={"event": "file.rejected", "path": source})
        log.debug("%s", trace)


def _build_one(
    study_uid: str, headers: list[InstanceHeader], settings: FhirSettings, manifest: ManifestSettings | None,
    rejected: list[Rejected]
) -> StudyOutput | None:
    from bridge.pipeline import build_study

    try:
        output = build_study(headers, settings, manifest)
    except Exception as exc:  # one study's failure must not end the batch; its files are reported
        log.exception("study %s could not be built", study_uid, extra={"event": "study.failed", "study_uid": study_uid})
        for header in headers:
            rejected.append(Rejected(header.source, f"study {study_uid} could not be built: {exc}"))
        return None
    log.info(
        "converted study %s (%d series, %d instances, %d reports)",
        study_uid,
        len(output.study.series),
        output.study.number_of_instances,
        len(output.reports),
        extra={"event": "study.converted", "study_uid": study_uid},
    )
    return output


def _check_reports(output: StudyOutput) -> dict[str, tuple[Violation, ...]]:
    from bridge.validate import validate_bundle

    problems: dict[str, tuple[Violation, ...]] = {}
    for report in output.reports:
        data = report.bundle.model_dump(mode="json", by_alias=True, exclude_none=True)
        errors = tuple(v for v in validate_bundle(data) if v.severity == "error")
        if errors:
            problems[str(report.bundle.id)] = errors
            log.error(
                "report bundle of %s fails validation: %s",
                report.report.sop_instance_uid,
                "; ".join(str(e) for e in errors[:5]),
                extra={"event": "bundle.invalid", "study_uid": output.study_instance_uid},
            )
    return problems


def reason_of(exc: InputError) -> str:
    """Why an input is unusable, with the keyword: ``Study Instance UID is missing (StudyInstanceUID)``."""
    return f"{exc.reason} ({exc.keyword})" if exc.keyword else exc.reason


def _fhir_settings(settings: Settings | FhirSettings | None) -> FhirSettings:
    if settings is None:
        return FhirSettings()
    return settings.fhir if isinstance(settings, Settings) else settings
