"""The FHIR REST sink: one study revision -> one transaction Bundle, then each report document PUT whole.

Idempotent by construction: every entry is ``PUT Type/id`` with the bridge's deterministic ids (or, in
``conditional`` mode, ``PUT Type?identifier=system|value`` where the resource has a business identifier), so
sending a revision again, re-ingesting a study or replaying a dead letter never creates a second resource.
The document Bundles go in separate ``PUT Bundle/id`` requests so that the server leaves their fullUrls alone.

``send`` never raises for what the server or the network does: it returns an Outcome saying whether the
delivery is done, should be retried (network errors, timeouts, 408/429/5xx/412, honouring Retry-After) or is
refused for good (other 4xx, with the server's OperationOutcome).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from bridge.settings import FhirServerSettings
from bridge.sinks.outcome import Outcome, next_attempt

log = logging.getLogger(__name__)

__all__ = ["FHIR_JSON", "RETRYABLE", "Outcome", "RestSink", "next_attempt"]

FHIR_JSON = "application/fhir+json"
RETRYABLE = frozenset({408, 412, 429, 500, 502, 503, 504})


class RestSink:
    """Delivers payloads to one FHIR server; safe to use from one thread at a time per instance."""

    def __init__(self, settings: FhirServerSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        verify: Any = str(settings.ca_file) if settings.ca_file else settings.verify_tls
        self._client = httpx.Client(base_url=settings.base_url + "/", timeout=settings.timeout, verify=verify,
                                    transport=transport, headers={"Accept": FHIR_JSON})
        self._token: str | None = settings.auth.token if settings.auth.kind == "bearer" else None
        self._token_expires = float("inf") if self._token else 0.0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        self._client.close()

    # -- sending ---------------------------------------------------------------------------------------------

    def send(self, payload: dict[str, Any]) -> Outcome:
        """Deliver one payload: the transaction, then each document. The first failure ends the attempt."""
        requests = 0
        try:
            transaction = self.transaction(payload)
            if transaction["entry"]:
                entries = len(transaction["entry"])
                what = f"transaction of {entries} entries"
                outcome = self._request("POST", self.settings.base_url, transaction, what)
                requests += 1
                if outcome is not None:
                    return _with_requests(outcome, requests)
            for document in payload.get("documents", ()):
                outcome = self._request("PUT", f"Bundle/{quote(document['id'])}", document,
                                        f"document Bundle/{document['id']}")
                requests += 1
                if outcome is not None:
                    return _with_requests(outcome, requests)
            for rule in payload.get("supersede", ()):
                outcome, made = self._supersede(rule)
                requests += made
                if outcome is not None:
                    return _with_requests(outcome, requests)
        except httpx.TimeoutException as exc:
            return Outcome(False, True, f"timeout after {self.settings.timeout:g} s: {type(exc).__name__}",
                           requests=requests)
        except httpx.TransportError as exc:
            return Outcome(False, True, f"network error: {type(exc).__name__}: {exc}", requests=requests)
        except httpx.HTTPStatusError as exc:  # the OAuth2 token endpoint refused: retried like a server error
            return Outcome(False, True, f"OAuth2 token: {exc}", requests=requests)
        return Outcome(True, requests=requests)

    def transaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The transaction Bundle upserting every resource of the payload."""
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": r, "request": self._request_line(r)} for r in payload.get("resources", ())],
        }

    def _request_line(self, resource: dict[str, Any]) -> dict[str, str]:
        kind, rid = resource["resourceType"], resource["id"]
        if self.settings.mode == "conditional":
            identifier = next((i for i in resource.get("identifier") or () if i.get("system") and i.get("value")),
                              None)
            if identifier is not None:
                token = quote(f"{identifier['system']}|{identifier['value']}", safe="")
                return {"method": "PUT", "url": f"{kind}?identifier={token}"}
        return {"method": "PUT", "url": f"{kind}/{rid}"}

    def _supersede(self, rule: dict[str, Any]) -> tuple[Outcome | None, int]:
        """Mark ``superseded`` what ``rule["search"]`` finds current and this revision did not write (its
        identifiers are not in ``rule["keep"]``): an earlier revision's manifest DocumentReferences."""
        kind = rule["resourceType"]
        keep = set(rule["keep"])
        response = self._client.get(f"{kind}?{rule['search']}&_count=1000", headers=self._auth_headers())
        if not response.is_success:
            detail = f"search {kind}?{rule['search']}: HTTP {response.status_code}: {_operation_outcome(response)}"
            retry = response.status_code in RETRYABLE
            return Outcome(False, retry, detail, _retry_after(response) if retry else None), 1
        made = 1
        for entry in response.json().get("entry") or ():
            resource = entry.get("resource") or {}
            if resource.get("resourceType") != kind or resource.get("status") != "current":
                continue
            if any(i.get("value") in keep for i in resource.get("identifier") or ()):
                continue
            resource["status"] = "superseded"
            resource.pop("meta", None)
            rid = quote(resource["id"])
            outcome = self._request("PUT", f"{kind}/{rid}", resource, f"superseding {kind}/{resource['id']}")
            made += 1
            if outcome is not None:
                return outcome, made
            log.info("marked %s/%s superseded", kind, resource["id"], extra={"event": "delivery.superseded",
                                                                             "sink": self.name})
        return None, made

    def _request(self, method: str, url: str, body: dict[str, Any], what: str) -> Outcome | None:
        """None when the server accepted; else the Outcome of the refusal."""
        content = orjson.dumps(body)  # study revisions are large: the standard library's encoder is 8x slower
        headers = {"Content-Type": FHIR_JSON, "Prefer": "return=minimal", **self._auth_headers()}
        response = self._client.request(method, url, content=content, headers=headers)
        if response.status_code == 401 and self.settings.auth.kind == "oauth2":
            self._token = None  # expired early or revoked: fetch a new one once
            headers.update(self._auth_headers())
            response = self._client.request(method, url, content=content, headers=headers)
        if response.is_success:
            return None
        detail = f"{what}: HTTP {response.status_code}: {_operation_outcome(response)}"
        retry = response.status_code in RETRYABLE
        return Outcome(False, retry, detail, _retry_after(response) if retry else None)

    # -- auth ------------------------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        auth = self.settings.auth
        if auth.kind == "none":
            return {}
        if auth.kind == "oauth2":
            with self._lock:
                if self._token is None or time.time() >= self._token_expires:
                    self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    def _fetch_token(self) -> None:
        """OAuth2 client credentials (RFC 6749 §4.4); the token is reused until 30 s before it expires."""
        auth = self.settings.auth
        assert auth.token_url and auth.client_id and auth.client_secret
        form = {"grant_type": "client_credentials"} | ({"scope": auth.scope} if auth.scope else {})
        response = self._client.post(auth.token_url, data=form, auth=(auth.client_id, auth.client_secret))
        if not response.is_success:
            raise httpx.HTTPStatusError(f"token endpoint answered HTTP {response.status_code}",
                                        request=response.request, response=response)
        data = response.json()
        self._token = str(data["access_token"])
        self._token_expires = time.time() + max(float(data.get("expires_in", 300)) - 30.0, 1.0)


def _with_requests(outcome: Outcome, requests: int) -> Outcome:
    return Outcome(outcome.done, outcome.retry, outcome.error, outcome.retry_after, requests)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _operation_outcome(response: httpx.Response) -> str:
    """The diagnostics of the server's OperationOutcome, else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome":
        issues = data.get("issue") or []
        parts = [
            " ".join(str(p) for p in (i.get("severity"), i.get("code"), i.get("diagnostics")
                                     or (i.get("details") or {}).get("text"), i.get("expression")) if p)
            for i in issues if isinstance(i, dict)
        ]
        return "OperationOutcome: " + "; ".join(parts) if parts else "OperationOutcome without issues"
    return json.dumps(data)[:300]
