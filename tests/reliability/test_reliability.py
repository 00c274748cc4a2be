"""The reliability suite's short form (the whole suite: ``make reliability``, tests/reliability/suite.py).

Each scenario runs two ``dicom-bridge serve`` nodes on a PostgreSQL database of their own with a shared data folder,
the FHIR test server behind a fault-injecting proxy, and sender threads; then checks that no acknowledged instance is
lost, every revision is delivered exactly once per sink, and no dead letter is left after replay. The figures table
is printed (``pytest -s`` shows it; a failure shows it always). The seed is fixed (BRIDGE_RELIABILITY_SEED overrides
it); ``python -m tests.reliability.suite --short --seed S --scenario NAME`` replays a scenario outside pytest.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from bridge.samples import write_ct_study
from bridge.service.scu import send_files
from tests import fault_proxy as fp
from tests.e2e.conftest import AE_TITLE, ServeConfig, wait_for, write_config
from tests.integration.conftest import postgres_url_or_skip
from tests.reliability import suite

SHORT_SECONDS = suite.SHORT_SECONDS  # the sending window of each scenario (see suite.SHORT_SECONDS for the time)
SEED = int(os.environ.get("BRIDGE_RELIABILITY_SEED", suite.DEFAULT_SEED))


@pytest.mark.parametrize("scenario", suite.SCENARIOS)
def test_short_form(scenario: str, tmp_path: Path, fhir_server: Any) -> None:
    if postgres_url_or_skip() != suite.postgres_url():
        pytest.skip("the suite and the tests disagree on the PostgreSQL URL")
    figures = suite.run_scenario(scenario, tmp_path / scenario, fhir_server, SEED, SHORT_SECONDS[scenario],
                                 short=True)
    print(f"\n{figures.table()}\nreplay: python -m tests.reliability.suite --short --seed {SEED} "
          f"--seconds {SHORT_SECONDS[scenario]:g} --scenario {scenario}")
    if figures.skipped:
        if scenario == "pg-restart" and os.environ.get("BRIDGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"pg-restart skipped ({figures.skipped}) but BRIDGE_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(figures.skipped)
    assert figures.ok, f"seed {SEED}, logs in {tmp_path / scenario}\n{figures.table()}"
    assert figures.lost == 0 and figures.duplicates == 0 and figures.dead_after_replay == 0
    assert figures.acknowledged == figures.instances == figures.stored > 0


class StaleRevision(AssertionError):
    """An older revision of a study reached the FHIR server after a newer one, and stayed."""


def test_an_older_revision_in_flight_never_lands_after_a_newer_one(tmp_path: Path, fhir_server: Any) -> None:
    """Two nodes, one study. Revision 1's transaction is slow at the server (held 6 s by the proxy, within the sink's
    10 s timeout); meanwhile a straggler makes revision 2, which the other node is free to deliver."""
    postgres_url_or_skip()
    fhir_server.reset()
    files = write_ct_study(tmp_path / "src", n_series=1, per_series=4, seed="stale-revision", rows=8, columns=8)
    study_uid = str(dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    held = threading.Event()

    def revision_1(method: str, _path: str, body: bytes) -> bool:
        if method == "POST" and b'"numberOfInstances":3' in body:
            held.set()
            return True
        return False

    shared = tmp_path / "shared"
    with suite.own_database(suite.postgres_url(), "stale") as url, fp.FaultProxy(fhir_server.base) as proxy:
        proxy.set(fp.delay(6.0, when=revision_1, count=1))
        sink = {"name": "fhir", "base_url": proxy.base, "timeout": 10.0, "backoff": 0.2, "backoff_cap": 1.0}
        nodes = []
        try:
            for name in ("node-a", "node-b"):
                service = {"data_dir": shared / "data", "output_dir": shared / "out", "lease": 5.0, "workers": 1}
                config = write_config(tmp_path / name, quiet_period=1.0, store={"url": url}, service=service,
                                      delivery={"fhir_servers": [sink], "poll_interval": 0.1})
                nodes.append(suite.Node(name, ServeConfig(config.path, shared / "data", shared / "out")))
                nodes[-1].start()
            assert {s.status for s in send_files(files[:3], nodes[0].port, AE_TITLE, "CT01")} == {0x0000}
            assert held.wait(60), "revision 1 never reached the FHIR server"
            assert {s.status for s in send_files(files[3:], nodes[1].port, AE_TITLE, "CT01")} == {0x0000}
            db = suite.Db(url)
            try:
                def settled() -> bool:
                    posts = [r for r in proxy.requests if r.method == "POST"]
                    states = db.rows("SELECT revision, state FROM deliveries ORDER BY revision, delivery_id")
                    return len(posts) >= 2 and [tuple(r) for r in states][-1] == (2, "delivered")

                wait_for(settled, "revision 2 delivered and revision 1's transaction answered", 90, 0.2)
                [(revision,)] = db.rows("SELECT revision FROM studies")
                assert revision == 2
            finally:
                db.close()
        finally:
            for node in nodes:
                node.stop()
    [entry] = fhir_server.search("ImagingStudy", identifier=f"urn:dicom:uid|urn:oid:{study_uid}")["entry"]
    if entry["resource"]["numberOfInstances"] != 4:
        raise StaleRevision(f"ImagingStudy on the server has {entry['resource']['numberOfInstances']} instances "
                            "(revision 1); the store says revision 2 (4 instances) was delivered")
