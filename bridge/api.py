"""convert(paths): the Python API used by the CLI, tests and harnesses."""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bridge.errors import InputError, NotAnInstanceError
from bridge.extract.read import read_header
from bridge.ingest.files import iter_files
from bridge.model import Finding, InstanceHeader
from bridge.pipeline import StudyOutput, build_study
from bridge.settings import FhirSettings, Settings
from bridge.validate import Violation, validate_bundle

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


def convert(
    paths: Iterable[str | os.PathLike[str]],
    settings: Settings | FhirSettings | None = None,
    *,
    progress: Progress | None = None,
    validate: bool = True,
) -> ConversionResult:
    """Read every file under ``paths``, group by Study Instance UID, build each study's FHIR resources.

    Files that cannot be used are listed in ``rejected`` with the reason; the rest goes on. ``progress``
    is called with the number of files done after each file. With ``validate``, every report bundle is
    checked with the project's validator and its error violations are kept in ``violations``.
    """
    fhir_settings = _fhir_settings(settings)
    files = list(iter_files(paths))
    by_study: dict[str, list[InstanceHeader]] = defaultdict(list)
    rejected: list[Rejected] = []
    skipped: list[Rejected] = []
    for done, path in enumerate(files, start=1):
        _read_one(path, by_study, rejected, skipped)
        if progress is not None:
            progress(done)
    studies = []
    violations: dict[str, tuple[Violation, ...]] = {}
    for study_uid in sorted(by_study):
        output = _build_one(study_uid, by_study[study_uid], fhir_settings, rejected)
        if output is None:
            continue
        studies.append(output)
        if validate:
            violations.update(_check_reports(output))
    return ConversionResult(tuple(studies), tuple(rejected), tuple(skipped), len(files), violations)


def _read_one(
    path: Path, by_study: dict[str, list[InstanceHeader]], rejected: list[Rejected], skipped: list[Rejected]
) -> None:
    source = str(path)
    try:
        header = read_header(path)
    except NotAnInstanceError as exc:
        skipped.append(Rejected(source, exc.reason))
        log.info("skipped %s", exc, extra={"event": "file.skipped", "path": source})
        return
    except InputError as exc:
        rejected.append(Rejected(source, _reason(exc)))
        log.warning("rejected %s", exc, extra={"event": "file.rejected", "path": source})
        return
    except OSError as exc:
        rejected.append(Rejected(source, f"cannot be read: {exc.strerror or exc}"))
        log.warning("rejected %s: %s", source, exc, extra={"event": "file.rejected", "path": source})
        return
    except Exception as exc:  # a library bug must not end the batch: the file is reported instead
        rejected.append(Rejected(source, f"unexpected error while reading: {type(exc).__name__}: {exc}"))
        log.exception("rejected %s", source, extra={"event": "file.rejected", "path": source})
        return
    by_study[header.study_instance_uid].append(header)


def _build_one(
    study_uid: str, headers: list[InstanceHeader], settings: FhirSettings, rejected: list[Rejected]
) -> StudyOutput | None:
    try:
        output = build_study(headers, settings)
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


def _reason(exc: InputError) -> str:
    return f"{exc.reason} ({exc.keyword})" if exc.keyword else exc.reason


def _fhir_settings(settings: Settings | FhirSettings | None) -> FhirSettings:
    if settings is None:
        return FhirSettings()
    return settings.fhir if isinstance(settings, Settings) else settings
