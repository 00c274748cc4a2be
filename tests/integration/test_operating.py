"""Operating the service in-process: Prometheus metrics against a known send, /healthz, the disk reserve, and the
status page's HTML and files (the real-browser checks are in tests/e2e/test_status_page.py)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from bridge.service.harness import Bridge
from tests.conftest import SAMPLE_DICOM
from tests.factories import wait_for
from tests.fault_proxy import free_port

SAMPLE_FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))
STUDY_UID = str(dcmread(SAMPLE_FILES[0], stop_before_pixels=True).StudyInstanceUID)
HUGE_RESERVE_MB = 1 << 40  # more than any disk has: the reserve is always breached


def scrape(bridge: Bridge) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics parsed with the Prometheus client's own parser: (sample name, sorted labels) -> value."""
    response = httpx.get(bridge.service.http_url + "metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_counters_match_a_known_send(tmp_path: Path) -> None:
    listener = {"allowed_calling_aets": ["HARNESS"]}
    with Bridge.running(tmp_path, listener=listener) as bridge:
        assert set(bridge.send(SAMPLE_FILES)) == {0x0000}
        bridge.wait_idle()
        assert set(bridge.send(SAMPLE_FILES[:3])) == {0x0000}  # identical bytes again: duplicates
        refused = AE(ae_title="INTRUDER")
        refused.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assert refused.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title).is_rejected
        bridge.wait_idle()
        metrics = scrape(bridge)
        stored = bridge.service.store.instances_of(STUDY_UID)
    n = len(SAMPLE_FILES)
    assert len(stored) == n
    assert metrics[("bridge_instances_received_total", (("route", "dicom"),))] == n
    # the bytes received, as spooled (the data sets as sent, under the File Meta Information the listener wrote)
    assert metrics[("bridge_received_bytes_total", (("route", "dicom"),))] == sum(r.size for r in stored)
    assert metrics[("bridge_instances_duplicate_total", (("route", "dicom"),))] == 3
    assert metrics[("bridge_associations_total", (("result", "accepted"),))] == 2
    assert metrics[("bridge_associations_total", (("result", "rejected_calling_ae"),))] == 1
    assert metrics[("bridge_studies_sealed_total", ())] == 1
    assert metrics[("bridge_study_revisions_total", ())] == 0
    assert metrics[("bridge_seal_latency_seconds_count", ())] == 1
    assert metrics[("bridge_studies", (("state", "sealed"),))] == 1
    assert metrics[("bridge_studies", (("state", "open"),))] == 0
    assert metrics[("bridge_instances_waiting", ())] == 0
    assert metrics[("bridge_store_up", ())] == 1
    assert metrics[("bridge_disk_below_reserve", ())] == 0
    assert metrics[("bridge_disk_free_bytes", ())] > 0


def test_a_straggler_from_the_inbox_counts_as_a_revision(tmp_path: Path) -> None:
    with Bridge.running(tmp_path) as bridge:
        bridge.send(SAMPLE_FILES[:-1])
        bridge.wait_idle()
        bridge.drop(SAMPLE_FILES[-1:])
        wait_for(lambda: bridge.studies()[0].revision == 2, "revision 2", 30)
        metrics = scrape(bridge)
    assert metrics[("bridge_instances_received_total", (("route", "dicom"),))] == len(SAMPLE_FILES) - 1
    assert metrics[("bridge_instances_received_total", (("route", "inbox"),))] == 1
    assert metrics[("bridge_received_bytes_total", (("route", "inbox"),))] == SAMPLE_FILES[-1].stat().st_size
    assert metrics[("bridge_studies_sealed_total", ())] == 2
    assert metrics[("bridge_study_revisions_total", ())] == 1
    assert metrics[("bridge_seal_latency_seconds_count", ())] == 2


def test_healthz_reports_each_check(tmp_path: Path) -> None:
    with Bridge.running(tmp_path) as bridge:
        response = httpx.get(bridge.service.http_url + "healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {"store": True, "spool": True,
                                                                              "disk": True}
    assert body["checks"]["disk"]["reserve_bytes"] == 100 * 1024 * 1024
    assert body["checks"]["disk"]["free_bytes"] > body["checks"]["disk"]["reserve_bytes"]


def test_below_the_disk_reserve_associations_are_refused_and_inbox_files_wait(tmp_path: Path) -> None:
    service = {"min_free_space_mb": HUGE_RESERVE_MB}
    with Bridge.running(tmp_path, service=service) as bridge:
        ae = AE(ae_title="HARNESS")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
        assert assoc.is_rejected
        rejection = assoc.acceptor.primitive
        # rejected-transient, DICOM UL service-provider (presentation related), local-limit-exceeded
        assert (rejection.result, rejection.result_source, rejection.diagnostic) == (0x02, 0x03, 0x02)
        [dropped] = bridge.drop(SAMPLE_FILES[:1])
        time.sleep(1.0)  # five scans of the inbox
        assert dropped.is_file()  # left where it is, not taken and not quarantined
        assert bridge.studies() == []
        health = httpx.get(bridge.service.http_url + "healthz")
        metrics = scrape(bridge)
    assert health.status_code == 503
    assert health.json()["checks"]["disk"]["ok"] is False
    assert "below the reserve" in health.json()["checks"]["disk"]["detail"]
    assert metrics[("bridge_disk_below_reserve", ())] == 1
    assert metrics[("bridge_associations_total", (("result", "rejected_disk_reserve"),))] == 1
    assert list((tmp_path / "data" / "quarantine").glob("*")) == []


def test_reserve_breached_during_an_association_gives_out_of_resources(tmp_path: Path) -> None:
    with Bridge.running(tmp_path) as bridge:
        reserve = bridge.service.reserve
        ae = AE(ae_title="HARNESS")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
        assert assoc.is_established
        ct = [p for p in SAMPLE_FILES if dcmread(p, stop_before_pixels=True).SOPClassUID == CTImageStorage][:2]
        first = assoc.send_c_store(dcmread(ct[0]))
        reserve._usage = lambda _path: 10 * 1024 * 1024  # the disk fills up: 10 MiB left, reserve 100 MiB
        second = assoc.send_c_store(dcmread(ct[1]))
        assoc.release()
        bridge.wait_idle()
        stored = {r.sop_instance_uid for r in bridge.service.store.instances_of(STUDY_UID)}
        leftovers = list((bridge.service.data_dir / "tmp").iterdir())
        metrics = scrape(bridge)
    assert first.Status == 0x0000
    assert second.Status == 0xA700
    assert "below its reserve" in str(second.ErrorComment)
    assert stored == {str(dcmread(ct[0], stop_before_pixels=True).SOPInstanceUID)}
    assert leftovers == []  # nothing half-written stays
    assert metrics[("bridge_instances_refused_total", (("status", "0xA700"),))] == 1


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> object:
    root = tmp_path_factory.mktemp("status-page")
    with Bridge.running(root) as bridge:
        bridge.send(SAMPLE_FILES)
        bridge.wait_idle()
        yield bridge


def test_overview_lists_the_study_with_its_order_and_state(served: Bridge) -> None:
    page = httpx.get(served.service.http_url)
    assert page.status_code == 200
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all
    row = page.text.split(f'<tr data-study="{STUDY_UID}">')[1].split("</tr>")[0]
    header = dcmread(SAMPLE_FILES[0], stop_before_pixels=True)
    assert str(header.AccessionNumber) in row
    assert str(header.PatientID) in row
    assert ">sealed<" in row
    assert f"<td>{len(SAMPLE_FILES)}</td>" in row


def test_study_page_renders_the_report_and_links_its_files(served: Bridge) -> None:
    base = served.service.http_url
    page = httpx.get(f"{base}studies/{STUDY_UID}")
    assert page.status_code == 200
    folder = served.study_folder(STUDY_UID)
    [report] = sorted(folder.glob("report-*.json"))
    assert f"/studies/{STUDY_UID}/files/{report.name}" in page.text
    assert "<h3>Findings</h3>" in page.text or ">Findings<" in page.text
    imaging_study = httpx.get(f"{base}studies/{STUDY_UID}/files/ImagingStudy.json")
    assert imaging_study.headers["content-type"] == "application/fhir+json"
    assert imaging_study.json()["resourceType"] == "ImagingStudy"
    assert imaging_study.content == (folder / "ImagingStudy.json").read_bytes()


def test_only_written_files_are_served(served: Bridge) -> None:
    base = served.service.http_url
    for name in ("..%2F..%2Fstate.db", "state.db", "%2Fetc%2Fpasswd"):
        assert httpx.get(f"{base}studies/{STUDY_UID}/files/{name}").status_code == 404
    assert httpx.get(f"{base}studies/1.2.3.404").status_code == 404


def test_replay_needs_the_page_token(served: Bridge) -> None:
    response = httpx.post(f"{served.service.http_url}deadletters/1/replay", data={"token": "forged"})
    assert response.status_code == 403
    assert "stale" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_delivery_results_dead_letters_and_replay_from_the_page(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: every attempt fails with a refused connection
    sink = {"name": "national", "base_url": f"http://127.0.0.1:{closed}/fhir", "max_attempts": 2, "backoff": 0.05,
            "timeout": 2.0}
    with Bridge.running(tmp_path, delivery={"fhir_servers": [sink], "poll_interval": 0.05}) as bridge:
        bridge.send(SAMPLE_FILES)
        store = bridge.service.store
        wait_for(lambda: len(store.dead_letters()) == 1, "the dead letter", 30)
        metrics = scrape(bridge)
        base = bridge.service.http_url
        page = httpx.get(base + "deadletters")
        [dead] = store.dead_letters()
        token = page.text.split('name="token" value="')[1].split('"')[0]
        replayed = httpx.post(f"{base}deadletters/{dead.delivery_id}/replay", data={"token": token})
        # re-queued with its attempts reset: two more attempts against the still closed port, then dead again
        wait_for(lambda: scrape(bridge).get(("bridge_deliveries_total", (("result", "dead"), ("sink", "national"))))
                 == 2, "the replayed delivery to fail again", 30)
        after = scrape(bridge)
        [dead_again] = store.dead_letters()
    assert metrics[("bridge_deliveries_total", (("result", "retry"), ("sink", "national")))] == 1
    assert metrics[("bridge_deliveries_total", (("result", "dead"), ("sink", "national")))] == 1
    assert metrics[("bridge_dead_letters", (("sink", "national"),))] == 1
    assert f'<tr data-delivery="{dead.delivery_id}">' in page.text
    assert "refused" in page.text.split(f'<tr data-delivery="{dead.delivery_id}">')[1].lower()
    assert replayed.status_code == 303
    assert replayed.headers["location"] == f"/deadletters?replayed={dead.delivery_id}"
    assert after[("bridge_deliveries_total", (("result", "retry"), ("sink", "national")))] == 2
    assert (dead_again.delivery_id, dead_again.attempts) == (dead.delivery_id, 2)


def test_refusals_by_the_association_limit_are_counted(tmp_path: Path) -> None:
    with Bridge.running(tmp_path, listener={"max_associations": 1}) as bridge:
        ae = AE(ae_title="HARNESS")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        first = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
        second = ae.associate("127.0.0.1", bridge.port, ae_title=bridge.ae_title)
        assert first.is_established and second.is_rejected
        first.release()
        metrics = scrape(bridge)
    assert metrics[("bridge_associations_total", (("result", "accepted"),))] == 1
    assert metrics[("bridge_associations_total", (("result", "rejected_max_associations"),))] == 1

