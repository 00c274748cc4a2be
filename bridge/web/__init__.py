"""The service's HTTP side: the status page, /metrics and /healthz (Starlette app, served by uvicorn in a thread)."""
