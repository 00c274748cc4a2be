"""Validation stays linear: a study of 2,000 instances validates well under a second."""

from __future__ import annotations

import time

from bridge.validate import validate_bundle
from tests.unit.validate.bundles import build_document_bundle


def test_two_thousand_instances_validate_well_under_a_second() -> None:
    validate_bundle(build_document_bundle(instances=2))  # warm fhir.resources' model caches
    bundle = build_document_bundle(instances=2000)
    started = time.perf_counter()
    violations = validate_bundle(bundle)
    elapsed = time.perf_counter() - started
    assert violations == []
    assert elapsed < 1.0, f"validation took {elapsed:.2f} s"


def test_many_instance_defects_are_each_reported_once() -> None:
    bundle = build_document_bundle(instances=2000)
    for instance in bundle["entry"][3]["resource"]["series"][0]["instance"][::2]:
        del instance["sopClass"]["code"]
    started = time.perf_counter()
    found = [v for v in validate_bundle(bundle) if v.rule == "eu-img-instance-sopclass"]
    assert len(found) == 1000
    assert len({v.path for v in found}) == 1000
    assert time.perf_counter() - started < 1.0
