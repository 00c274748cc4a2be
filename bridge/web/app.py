"""The status page, /metrics and /healthz.

Read-only except the replay of a dead letter (a POST with a per-process token, so a page elsewhere cannot make the
browser of an on-call engineer replay). Everything the page needs is in this package: no external asset, no
script (the Content-Security-Policy forbids scripts outright), so it works offline and in a locked-down browser.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bridge.errors import StoreError
from bridge.metrics import Metrics
from bridge.service.health import Health
from bridge.store import DeliveryRecord, StateStore, StudyRecord

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MEDIA_TYPES = {".json": "application/fhir+json", ".dcm": "application/dicom"}


@dataclass
class WebContext:
    """What the pages read and the one thing they may do (replay)."""

    store: StateStore
    metrics: Metrics
    health: Health
    node: str  # this node's name (host:pid:...)
    recent_studies: int = 200
    on_replay: Callable[[], None] = lambda: None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


def create_app(ctx: WebContext) -> Starlette:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["utc"] = _utc
    templates.env.filters["uid_path"] = lambda uid: quote(uid, safe="")

    def page(request: Request, name: str, status_code: int = 200, **values: Any) -> Response:
        response = templates.TemplateResponse(request, name, {"node": ctx.node, **values}, status_code=status_code)
        response.headers.update(SECURITY_HEADERS)
        return response

    def overview(request: Request) -> Response:
        try:
            recent = ctx.store.recent_studies(ctx.recent_studies)
            deliveries = ctx.store.latest_deliveries([s.study_instance_uid for s in recent])
            counts = ctx.store.counts()
            dead = ctx.store.dead_letters()
        except StoreError as exc:
            return page(request, "error.html", 503, title="State store unreachable", message=str(exc))
        return page(request, "index.html", title="Studies", studies=[_row(s, deliveries) for s in recent],
                    counts=counts, dead_count=len(dead), health=ctx.health.check())

    def study(request: Request) -> Response:
        uid = request.path_params["uid"]
        try:
            record = ctx.store.study(uid)
            deliveries = ctx.store.deliveries_of(uid) if record else []
        except StoreError as exc:
            return page(request, "error.html", 503, title="State store unreachable", message=str(exc))
        if record is None:
            return page(request, "error.html", 404, title="No such study",
                        message=f"The store holds no study with Study Instance UID {uid}.")
        summary = record.summary or {}
        reports = [{**r, "narrative": _narrative(Path(summary["folder"]) / r["file"])}
                   for r in summary.get("reports", ())]
        return page(request, "study.html", title=f"Study {uid}", study=record, summary=summary, reports=reports,
                    deliveries=deliveries)

    def study_file(request: Request) -> Response:
        uid, name = request.path_params["uid"], request.path_params["name"]
        try:
            record = ctx.store.study(uid)
        except StoreError as exc:
            raise HTTPException(503, str(exc)) from exc
        summary = (record.summary if record else None) or {}
        if "folder" not in summary or name not in {*summary.get("files", ()), "index.json"}:  # only what was written
            raise HTTPException(404, f"{name} is not a file of study {uid}")
        path = Path(summary["folder"]) / name
        if not path.is_file():
            raise HTTPException(404, f"{path} is gone (the output folder was cleaned?)")
        media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        return FileResponse(path, media_type=media, headers=SECURITY_HEADERS)

    def dead_letters(request: Request) -> Response:
        try:
            dead = ctx.store.dead_letters()
        except StoreError as exc:
            return page(request, "error.html", 503, title="State store unreachable", message=str(exc))
        return page(request, "deadletters.html", title="Dead letters", dead=dead, token=ctx.token,
                    replayed=request.query_params.get("replayed"), superseded=request.query_params.get("superseded"))

    async def replay(request: Request) -> Response:
        form = await request.form()
        if not secrets.compare_digest(str(form.get("token", "")), ctx.token):
            raise HTTPException(403, "the replay form is stale or not from this status page: reload the page")
        delivery_id = int(request.path_params["delivery_id"])
        try:
            requeued, superseded = ctx.store.replay([delivery_id], time.time())
        except StoreError as exc:
            raise HTTPException(503, str(exc)) from exc
        if not requeued and not superseded:
            raise HTTPException(404, f"delivery {delivery_id} is not a dead letter (replayed already?)")
        log.info("dead letter %d %s from the status page", delivery_id,
                 "re-queued" if requeued else "superseded by a newer revision",
                 extra={"event": "http.replay", "delivery_id": delivery_id})
        ctx.on_replay()
        outcome = "replayed" if requeued else "superseded"
        return RedirectResponse(f"/deadletters?{outcome}={delivery_id}", status_code=303)

    def metrics(_request: Request) -> Response:
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def healthz(_request: Request) -> Response:
        report = ctx.health.check()
        return JSONResponse(report.as_json(), status_code=200 if report.ok else 503,
                            headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", overview, name="overview"),
        Route("/studies/{uid}", study, name="study"),
        Route("/studies/{uid}/files/{name}", study_file, name="study_file"),
        Route("/deadletters", dead_letters, name="deadletters"),
        Route("/deadletters/{delivery_id:int}/replay", replay, methods=["POST"], name="replay"),
        Route("/metrics", metrics, name="metrics"),
        Route("/healthz", healthz, name="healthz"),
    ]

    def refused(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"{exc.status_code}: {exc.detail}\n", status_code=exc.status_code,
                                 headers=SECURITY_HEADERS)

    return Starlette(routes=routes, exception_handlers={HTTPException: refused})


@dataclass(frozen=True, slots=True)
class StudyRow:
    study: StudyRecord
    summary: dict[str, Any]
    deliveries: list[DeliveryRecord]

    @property
    def delivery_state(self) -> str:
        """One word for the list: the worst state of the study's latest revision over the sinks."""
        states = {d.state.value for d in self.deliveries}
        for state in ("dead", "sending", "pending", "delivered", "superseded"):
            if state in states:
                return state
        return "files only"


def _row(record: StudyRecord, deliveries: dict[str, list[DeliveryRecord]]) -> StudyRow:
    return StudyRow(record, record.summary or {}, deliveries.get(record.study_instance_uid, []))


def _narrative(path: Path) -> Markup | None:
    """The report as a person reads it: the Composition's narrative (the DiagnosticReport's in the minimal form).

    The narrative is the bridge's own XHTML (values escaped when it was built, checked by the validator); the
    page's Content-Security-Policy forbids scripts whatever it holds.
    """
    try:
        bundle = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    resources = [e.get("resource", {}) for e in bundle.get("entry", ())]
    for kind in ("Composition", "DiagnosticReport"):
        for resource in resources:
            div = resource.get("text", {}).get("div") if resource.get("resourceType") == kind else None
            if div:
                return Markup(div)  # noqa: S704 - see the docstring
    return None


def _utc(seconds: float | None) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S") if seconds else ""
