"""The HTTP server of `dicom-bridge serve`: uvicorn in a background thread, on a socket bound before it starts."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from bridge.errors import ServiceError
from bridge.settings import HttpSettings

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0  # seconds


class HttpServer:
    """``start()`` binds and serves; ``stop()`` finishes running requests and closes."""

    def __init__(self, settings: HttpSettings, app: ASGIApp) -> None:
        self.settings = settings
        self.app = app
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise ServiceError("the HTTP server is not running")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.settings.bind_address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Bind (errors here stop the service from starting) and serve in a thread.

        Raises:
            ServiceError: the address cannot be bound, or the server did not start.
        """
        address = (self.settings.bind_address, self.settings.port)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(64)
        except OSError as exc:
            sock.close()
            raise ServiceError(f"http: cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}") from exc
        self._socket = sock
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off", loop="asyncio",
                                http="h11", ws="none", server_header=False, timeout_graceful_shutdown=5)
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="bridge-http",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServiceError(f"http: the server on {address[0]}:{address[1]} did not start")
            time.sleep(0.01)
        log.info("status page, /metrics and /healthz at %s", self.url,
                 extra={"event": "http.started", "port": self.port})

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
