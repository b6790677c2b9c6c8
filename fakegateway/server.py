"""Run the fake gateway on a real port in a background thread, for tests and benchmarks."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from .app import DIALECTS, FakeConfig, FakeGateway


def base_url(root: str, dialect: str = "openai") -> str:
    """The OpenAI-style base URL (ending in /v1) of one dialect under a server root URL."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    return f"{root}/v1" if dialect == "openai" else f"{root}/{dialect}/v1"


class FakeGatewayServer:
    """`with FakeGatewayServer() as fake: httpx.get(fake.base_url() + "/models")`."""

    def __init__(
        self,
        app: FakeGateway | None = None,
        *,
        config: FakeConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.app = app or FakeGateway(config)
        self.host = host
        self.url = ""
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=host,
                port=port,
                log_level="warning",
                lifespan="on",
                # In-flight slow requests must not keep stop() waiting for minutes.
                timeout_graceful_shutdown=2,
            )
        )
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10) -> FakeGatewayServer:
        self._thread = threading.Thread(target=self._server.run, name="fakegateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the fake gateway server failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake gateway server did not start in time")
            time.sleep(0.01)
        # Port 0 lets the OS choose; the listening socket knows which port it got.
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        return self

    def base_url(self, dialect: str = "openai") -> str:
        return base_url(self.url, dialect)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 5) -> None:
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeGatewayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
