"""Running the sandbox servers: each app on its own uvicorn server in a background thread.

The same code serves the CLI (foreground, until a signal) and the pytest fixture (free ports, real
sockets), so tests exercise exactly what a user runs.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from ml_connector.sandbox.config import SandboxConfig, pipedrive_connection_uri, workday_connection_uri


class ServerThread:
    """One ASGI app served on a real socket from a daemon thread."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=30,
            backlog=1024,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"sandbox-{self.port}",
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@dataclass(frozen=True)
class RunningSandbox:
    config: SandboxConfig
    workday_url: str
    pipedrive_url: str
    workday_app: Starlette
    pipedrive_app: Starlette

    @property
    def workday_conn_uri(self) -> str:
        return workday_connection_uri(self.workday_url, self.config.workday)

    @property
    def pipedrive_conn_uri(self) -> str:
        return pipedrive_connection_uri(
            self.pipedrive_url, self.config.pipedrive, self.config.pipedrive_plan, self.config.pipedrive_seats
        )

    @property
    def pipedrive_oauth_conn_uri(self) -> str:
        return pipedrive_connection_uri(
            self.pipedrive_url,
            self.config.pipedrive,
            self.config.pipedrive_plan,
            self.config.pipedrive_seats,
            oauth=True,
        )

    def secrets_in_play(self) -> set[str]:
        """Every credential of both servers, including each token issued so far: what must never appear
        in a log, a staged file, the ledger or the metadata database."""
        wd, pd = self.config.workday, self.config.pipedrive
        issued: set[str] = set()
        for issuer in (self.workday_app.state.tenant.issuer, self.pipedrive_app.state.pipedrive.issuer):
            issued |= issuer.secrets()
        return {
            wd.client_secret,
            wd.refresh_token,
            wd.isu_password,
            pd.api_token,
            pd.client_secret,
            pd.refresh_token,
        } | issued

    def banner(self) -> str:
        """The lines the CLI prints: URLs and ready-to-use Airflow connections."""
        return "\n".join(
            [
                f"WORKDAY_URL={self.workday_url}",
                f"PIPEDRIVE_URL={self.pipedrive_url}",
                f"AIRFLOW_CONN_WORKDAY_DEFAULT={self.workday_conn_uri}",
                f"AIRFLOW_CONN_PIPEDRIVE_DEFAULT={self.pipedrive_conn_uri}",
            ]
        )


@contextmanager
def run_sandbox(config: SandboxConfig) -> Iterator[RunningSandbox]:
    """Start both servers, yield their URLs, stop them on exit."""
    from ml_connector.sandbox.pipedrive.app import build_pipedrive_app
    from ml_connector.sandbox.workday.app import build_workday_app

    workday_app = build_workday_app(config)
    pipedrive_app = build_pipedrive_app(config)
    workday = ServerThread(workday_app, config.host, config.workday_port).start()
    try:
        pipedrive = ServerThread(pipedrive_app, config.host, config.pipedrive_port).start()
        try:
            yield RunningSandbox(config, workday.url, pipedrive.url, workday_app, pipedrive_app)
        finally:
            pipedrive.stop()
    finally:
        workday.stop()
