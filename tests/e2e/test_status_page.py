"""The status page of ``dicom-bridge serve`` in a real browser (Playwright driving Debian's Chromium).

One server for the module: the sample study is sent to it as ``make demo`` does, with two FHIR server sinks on
closed local ports, so both deliveries are dead-lettered. ``node`` is made reachable later (a proxy to the test FHIR
server is started on its port) and replayed from the page; ``spare`` stays dead (the forged-replay test uses it).
Screenshots go to out/status-page/ under the repository root.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from pydicom import dcmread

from tests import fault_proxy as fp
from tests.conftest import REPO, SAMPLE_DICOM
from tests.e2e.conftest import (
    AE_TITLE,
    ServeConfig,
    ServeProcess,
    query,
    wait_for,
    wait_sealed,
    write_config,
)

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # reported by the browser fixture (skip, or fail under BRIDGE_REQUIRE_BROWSER=1)
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path(os.environ.get("BRIDGE_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_ENV = "BRIDGE_REQUIRE_BROWSER"
SCREENSHOTS = REPO / "out" / "status-page"
FHIR_PATH = "/fhir/R5"  # the test FHIR server's base path: the proxy forwards paths unchanged
FILES = sorted(SAMPLE_DICOM.rglob("*.dcm"))
STUDY_UID = str(dcmread(FILES[0], stop_before_pixels=True).StudyInstanceUID)
PATIENT = "Anna Wiśniewska"
ACCESSION = "ACC-2024-0001"
FINDINGS = "Solid pulmonary nodule of 9 mm"
TIMEOUT_MS = 15_000  # Playwright's waits (navigation, expect)


@dataclass(frozen=True)
class Bridge:
    """The module's server, its status page and the ports of its two (closed) FHIR sinks."""

    config: ServeConfig
    server: ServeProcess
    url: str  # http://127.0.0.1:<port>/
    node_port: int
    imaging_study: dict[str, Any]

    def study_url(self, uid: str = STUDY_UID) -> str:
        return f"{self.url}studies/{quote(uid, safe='')}"

    def dead_letter(self, sink: str) -> int:
        """The id of the study's dead letter for ``sink`` (waits for it: one refused attempt is enough)."""
        sql = "SELECT delivery_id FROM deliveries WHERE sink = ? AND study_instance_uid = ? AND state = 'dead'"
        rows = wait_for(lambda: query(self.config.state_db, sql, (sink, STUDY_UID)),
                        f"the delivery to {sink} to be dead-lettered", 30)
        assert len(rows) == 1, rows
        return int(rows[0][0])

    def delivery_state(self, delivery_id: int) -> str:
        [(state,)] = query(self.config.state_db, "SELECT state FROM deliveries WHERE delivery_id = ?", (delivery_id,))
        return str(state)


def _closed_ports(n: int) -> list[int]:
    """``n`` distinct free ports below the ephemeral range (nothing listens on them until a test starts a proxy)."""
    ports: list[int] = []
    while len(ports) < n:
        port = fp.free_port()
        if port not in ports:
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    node_port, spare_port = _closed_ports(2)
    sink = {"timeout": 5.0, "max_attempts": 1, "backoff": 0.1, "backoff_cap": 0.5}
    delivery = {"fhir_servers": [{"name": "node", "base_url": f"http://127.0.0.1:{node_port}{FHIR_PATH}", **sink},
                                 {"name": "spare", "base_url": f"http://127.0.0.1:{spare_port}{FHIR_PATH}", **sink}],
                "poll_interval": 0.1}
    root = tmp_path_factory.mktemp("status-page")
    config = write_config(root / "bridge", quiet_period=1.0, delivery=delivery)
    server = ServeProcess(config, config.path.parent / "serve.log")  # cwd: not beside a folder "bridge"
    try:
        server.wait_serving()
        sent = subprocess.run(  # what `make demo` does
            [sys.executable, "-m", "bridge", "send", str(SAMPLE_DICOM), "--port", str(server.port),
             "--aet", "DEMO_SCU", "--aec", AE_TITLE, "--no-progress", "--wait", "10"],
            capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        study = wait_sealed(config, STUDY_UID, 1, len(FILES))
        yield Bridge(config, server, server.status_page_url(), node_port, study)
    finally:
        server.kill_everything()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = None
    if sync_playwright is None:
        reason = "the playwright package is not installed (pip install -e '.[test]')"
    elif not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM} (Debian package chromium; or set BRIDGE_CHROMIUM to a Chromium binary)"
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires it")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def cells(row: Any) -> list[str]:
    return [text.strip() for text in row.locator("td").all_inner_texts()]


# ------------------------------------------------------------------------------------------------ the tests


def test_overview_lists_the_study_and_links_its_page(bridge: Bridge, page: Page) -> None:
    response = page.goto(bridge.url)
    assert response is not None and response.status == 200
    expect(page).to_have_title(re.compile(r"^Studies · dicom-bridge"))
    row = page.locator(f'table#studies tr[data-study="{STUDY_UID}"]')
    expect(row).to_have_count(1)
    patient, accession, _date, modality, instances, state, revision, _delivery, _arrival, uid = cells(row)
    assert patient.startswith(PATIENT), patient
    assert accession == ACCESSION
    assert "CT" in modality.split(", "), modality
    assert instances == str(len(FILES))
    assert state.split()[0] == "sealed", state
    assert revision == "1"
    assert uid == STUDY_UID
    screenshot(page, "overview.png")

    row.get_by_role("link", name=STUDY_UID).click()
    expect(page).to_have_url(bridge.study_url())
    expect(page.locator("td.uid").first).to_have_text(STUDY_UID)

    report = page.locator("section.report").filter(has_text=FINDINGS)
    expect(report).to_have_count(1)
    findings = report.get_by_role("heading", name="Findings", exact=True)
    expect(findings).to_be_visible()
    expect(findings.locator("xpath=following-sibling::*[1]")).to_contain_text(FINDINGS)  # under that heading
    series = bridge.imaging_study["series"]
    expect(page.locator("table#series tbody tr")).to_have_count(len(series))
    assert {cells(r)[4] for r in page.locator("table#series tbody tr").all()} == {s["uid"] for s in series}
    screenshot(page, "study.png")

    link = page.locator("ul#files a", has_text=re.compile(r"^ImagingStudy\.json$"))
    expect(link).to_have_count(1)
    target = f"{bridge.study_url()}/files/ImagingStudy.json"
    with page.expect_response(lambda response: response.url == target) as answer:
        link.click()
    page.wait_for_url(target)
    opened = answer.value
    assert opened.status == 200
    assert opened.header_value("content-type") == "application/fhir+json"
    shown = json.loads(page.locator("pre").first.inner_text())  # what the browser displays, not only the bytes
    assert shown["resourceType"] == "ImagingStudy"
    assert shown == bridge.imaging_study


def test_a_dead_letter_is_replayed_from_the_page(bridge: Bridge, page: Page, fhir_server: Any) -> None:
    assert urlsplit(fhir_server.base).path == FHIR_PATH
    delivery_id = bridge.dead_letter("node")
    [(error,)] = query(bridge.config.state_db, "SELECT last_error FROM deliveries WHERE delivery_id = ?",
                       (delivery_id,))
    assert "Connection refused" in error, error  # nothing listens on the sink's port yet

    page.goto(f"{bridge.url}deadletters")
    row = page.locator(f'table#deadletters tr[data-delivery="{delivery_id}"]')
    expect(row).to_have_count(1)
    shown = cells(row)
    assert shown[0] == str(delivery_id)
    assert shown[1:4] == [STUDY_UID, "1", "node"]
    assert shown[6] == error.strip()
    screenshot(page, "deadletters.png")

    fhir_server.reset()
    with fp.FaultProxy(fhir_server.base, port=bridge.node_port) as proxy:  # the sink becomes reachable
        row.get_by_role("button", name="Replay").click()
        expect(page).to_have_url(f"{bridge.url}deadletters?replayed={delivery_id}")
        expect(page.locator(".flash")).to_have_text(re.compile(rf"^Delivery {delivery_id} re-queued"))
        expect(page.locator(f'table#deadletters tr[data-delivery="{delivery_id}"]')).to_have_count(0)

        def delivered_on_the_page() -> bool:
            page.goto(bridge.study_url())
            rows = [cells(r) for r in page.locator("table#deliveries tbody tr").all()]
            return [r[3] for r in rows if r[0] == str(delivery_id) and r[1] == "node"] == ["delivered"]

        wait_for(delivered_on_the_page, f"delivery {delivery_id} shown as delivered on the study page", 30,
                 interval=0.5)
        assert any(r.method == "POST" and r.forwarded and r.status == 200 for r in proxy.requests), proxy.requests
    assert bridge.delivery_state(delivery_id) == "delivered"
    stored = fhir_server.get(f"ImagingStudy/{bridge.imaging_study['id']}")
    assert stored["resourceType"] == "ImagingStudy"
    assert stored["identifier"] == bridge.imaging_study["identifier"]


def test_a_replay_without_the_page_token_is_refused(bridge: Bridge) -> None:
    delivery_id = bridge.dead_letter("spare")
    with httpx.Client(base_url=bridge.url, timeout=10, follow_redirects=False) as client:
        page = client.get("/deadletters")
        assert page.status_code == 200
        match = re.search(rf'action="/deadletters/{delivery_id}/replay"><input type="hidden" name="token" '
                          r'value="(?P<token>[^"]+)"', page.text)
        assert match is not None, page.text
        for form in ({"token": "not-" + match["token"]}, {"token": ""}, {}):
            refused = client.post(f"/deadletters/{delivery_id}/replay", data=form)
            assert refused.status_code == 403, (form, refused.status_code, refused.text)
        again = client.get("/deadletters")
        assert f'data-delivery="{delivery_id}"' in again.text
    assert bridge.delivery_state(delivery_id) == "dead"


def test_healthz_reports_ok(bridge: Bridge) -> None:
    response = httpx.get(f"{bridge.url}healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    report = response.json()
    assert report["status"] == "ok"
    assert {name: check["ok"] for name, check in report["checks"].items()} == {
        "store": True, "spool": True, "disk": True
    }


def test_unknown_studies_and_files_are_404(bridge: Bridge) -> None:
    unknown = "1.2.3.4.5"
    with httpx.Client(base_url=bridge.url, timeout=10) as client:
        assert client.get(f"/studies/{unknown}").status_code == 404
        for uid, name in ((unknown, "index.json"), (unknown, "ImagingStudy.json"), (STUDY_UID, "bridge.toml"),
                          (STUDY_UID, "..%2F..%2Fbridge.toml")):
            response = client.get(f"/studies/{quote(uid, safe='')}/files/{name}")
            assert response.status_code == 404, (uid, name, response.status_code, response.text[:200])
        assert client.get(f"/studies/{quote(STUDY_UID, safe='')}/files/ImagingStudy.json").status_code == 200
