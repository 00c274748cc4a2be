"""The FHIR REST sink against an in-process transport: requests, auth, and how failures are classified."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bridge.settings import FhirServerSettings
from bridge.sinks.fhir_rest import RestSink, next_attempt

BASE = "https://fhir.example.org/fhir"
PAYLOAD: dict[str, Any] = {
    "resources": [
        {"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:oid:1.2.3", "value": "P-001"}]},
        {"resourceType": "ImagingStudy", "id": "s1", "status": "available", "subject": {"reference": "Patient/p1"}},
    ],
    "documents": [{"resourceType": "Bundle", "id": "b1", "type": "document", "entry": [
        {"fullUrl": "http://localhost/fhir/Composition/c1", "resource": {"resourceType": "Composition", "id": "c1"}},
    ]}],
}


def server(**changes: Any) -> FhirServerSettings:
    return FhirServerSettings.model_validate({"name": "test", "base_url": BASE, **changes})


class Recorder:
    """A transport that answers from a list of (status, body, headers) and records the requests."""

    def __init__(self, *answers: tuple[int, Any, dict[str, str]] | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else (200, {}, {})
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = answer
        return httpx.Response(status, json=body, headers=headers)


def sink_with(recorder: Recorder, **changes: Any) -> RestSink:
    return RestSink(server(**changes), transport=httpx.MockTransport(recorder))


def test_a_revision_is_one_transaction_of_puts_then_each_document_put_whole() -> None:
    recorder = Recorder()
    outcome = sink_with(recorder).send(PAYLOAD)
    assert outcome.done and outcome.requests == 2
    transaction, document = recorder.requests
    assert (transaction.method, str(transaction.url)) == ("POST", BASE)
    body = json.loads(transaction.content)
    assert body["type"] == "transaction"
    assert [e["request"] for e in body["entry"]] == [{"method": "PUT", "url": "Patient/p1"},
                                                     {"method": "PUT", "url": "ImagingStudy/s1"}]
    assert transaction.headers["Prefer"] == "return=minimal"
    assert transaction.headers["Content-Type"] == "application/fhir+json"
    assert (document.method, str(document.url)) == ("PUT", f"{BASE}/Bundle/b1")
    assert json.loads(document.content)["entry"][0]["fullUrl"] == "http://localhost/fhir/Composition/c1"


def test_conditional_mode_updates_by_business_identifier_where_there_is_one() -> None:
    recorder = Recorder()
    sink_with(recorder, mode="conditional").send(PAYLOAD)
    entries = json.loads(recorder.requests[0].content)["entry"]
    assert entries[0]["request"] == {"method": "PUT", "url": "Patient?identifier=urn%3Aoid%3A1.2.3%7CP-001"}
    assert entries[1]["request"] == {"method": "PUT", "url": "ImagingStudy/s1"}  # no identifier: by id


def test_bearer_token_is_sent() -> None:
    recorder = Recorder()
    sink_with(recorder, auth={"kind": "bearer", "token": "s3cret"}).send(PAYLOAD)
    assert {r.headers["Authorization"] for r in recorder.requests} == {"Bearer s3cret"}


def test_oauth2_client_credentials_token_is_fetched_once_and_refreshed_after_a_401() -> None:
    recorder = Recorder(
        (200, {"access_token": "t1", "expires_in": 3600}, {}),  # token
        (200, {}, {}), (200, {}, {}),  # transaction, document
        (401, {}, {}), (200, {"access_token": "t2", "expires_in": 3600}, {}), (200, {}, {}),  # revoked: new token
        (200, {}, {}),
    )
    sink = sink_with(recorder, auth={"kind": "oauth2", "token_url": "https://auth.example.org/token",
                                     "client_id": "bridge", "client_secret": "pw", "scope": "system/*.write"})
    assert sink.send(PAYLOAD).done
    assert sink.send(PAYLOAD).done
    token_requests = [r for r in recorder.requests if r.url.host == "auth.example.org"]
    assert len(token_requests) == 2
    assert b"grant_type=client_credentials" in token_requests[0].content
    assert token_requests[0].headers["Authorization"].startswith("Basic ")
    fhir = [r.headers["Authorization"] for r in recorder.requests if r.url.host == "fhir.example.org"]
    assert fhir == ["Bearer t1", "Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2"]


OUTCOME = {"resourceType": "OperationOutcome",
           "issue": [{"severity": "error", "code": "invalid", "diagnostics": "Missing required property",
                      "expression": ["Observation.status"]}]}


@pytest.mark.parametrize(("answer", "retry", "retry_after", "error"), [
    ((503, {}, {"Retry-After": "7"}), True, 7.0, "HTTP 503"),
    ((429, {}, {"Retry-After": "2"}), True, 2.0, "HTTP 429"),
    ((412, {}, {}), True, None, "HTTP 412"),
    ((400, OUTCOME, {}), False, None, "OperationOutcome: error invalid Missing required property"),
    ((404, {}, {}), False, None, "HTTP 404"),
    (httpx.ConnectError("refused"), True, None, "network error: ConnectError"),
    (httpx.ReadTimeout("slow"), True, None, "timeout after 30 s"),
])
def test_failures_are_classified(answer: Any, retry: bool, retry_after: float | None, error: str) -> None:
    outcome = sink_with(Recorder(answer)).send(PAYLOAD)
    assert not outcome.done
    assert (outcome.retry, outcome.retry_after) == (retry, retry_after)
    assert outcome.error is not None and error in outcome.error


def test_a_failing_document_put_fails_the_attempt_after_the_transaction() -> None:
    recorder = Recorder((200, {}, {}), (500, {}, {}))
    outcome = sink_with(recorder).send(PAYLOAD)
    assert (outcome.done, outcome.retry, outcome.requests) == (False, True, 2)
    assert outcome.error is not None and outcome.error.startswith("document Bundle/b1: HTTP 500")


def test_back_off_doubles_with_jitter_up_to_the_cap_and_ends_in_a_dead_letter() -> None:
    settings = server(backoff=2.0, backoff_cap=10.0, max_attempts=5, max_age=1000.0)
    t0 = 1000.0
    delays = [next_attempt(settings, n, t0, t0, None) for n in (1, 2, 3, 4)]
    assert all(d is not None for d in delays)
    for n, at in zip((1, 2, 3, 4), delays, strict=True):
        full = min(10.0, 2.0 * 2 ** (n - 1))
        assert at is not None and full / 2 <= at - t0 <= full
    assert next_attempt(settings, 5, t0, t0, None) is None  # attempts exhausted
    assert next_attempt(settings, 1, t0, t0 + 1000.0, None) is None  # too old
    honoured = next_attempt(settings, 1, t0, t0, retry_after=60.0)
    assert honoured == t0 + 60.0  # Retry-After beyond the cap is honoured
    assert next_attempt(settings, 1, t0, t0 + 990.0, retry_after=60.0) is None  # but not beyond max_age
