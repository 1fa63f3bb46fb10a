"""The ``ml-connector sandbox`` command as a user runs it: a real process, real ports, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_connector.cli", "sandbox", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: dict[str, str] = {}
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while len(lines) < 4 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        key, sep, value = line.strip().partition("=")
        if sep:
            lines[key] = value
    return proc, lines


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sandbox_command_prints_urls_and_connections_then_stops_on_signal(sig: signal.Signals) -> None:
    proc, lines = _start(
        "--workday-port", "0", "--pipedrive-port", "0", "--customers", "5", "--suppliers", "3"
    )
    try:
        assert set(lines) == {
            "WORKDAY_URL",
            "PIPEDRIVE_URL",
            "AIRFLOW_CONN_WORKDAY_DEFAULT",
            "AIRFLOW_CONN_PIPEDRIVE_DEFAULT",
        }
        assert lines["WORKDAY_URL"].startswith("http://127.0.0.1:")
        assert lines["AIRFLOW_CONN_WORKDAY_DEFAULT"].startswith("workday://")
        assert lines["AIRFLOW_CONN_PIPEDRIVE_DEFAULT"].startswith("pipedrive://")
        for key in ("WORKDAY_URL", "PIPEDRIVE_URL"):
            stats = requests.get(f"{lines[key]}/_sandbox/stats", timeout=10)
            assert stats.status_code == 200
            assert stats.json()["requests_total"] == 0
    finally:
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
    assert code == 0


def test_sandbox_command_uses_the_requested_port() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc, lines = _start("--workday-port", str(port), "--customers", "2", "--suppliers", "1")
    try:
        assert lines["WORKDAY_URL"] == f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_sandbox_command_rejects_an_unknown_plan() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", "sandbox", "--pipedrive-plan", "platinum"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--pipedrive-plan" in result.stderr and "platinum" in result.stderr
