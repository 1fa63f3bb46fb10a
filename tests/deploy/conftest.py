"""Fixtures for the deployment files: docker-compose.yaml as written and as compose resolves it."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from cryptography.fernet import Fernet
from deploy.compose_file import load, resolve


@pytest.fixture()
def env() -> dict[str, str]:
    """A filled-in .env: fresh values of the kind .env.example says to generate."""
    return {
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "ML_CONNECTOR_FERNET_KEYS": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(48),
        "AIRFLOW_ADMIN_USERNAME": "admin",
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
    }


@pytest.fixture()
def raw() -> dict[str, Any]:
    """The file as written (merge keys resolved, ``${VAR}`` not interpolated)."""
    return load()


@pytest.fixture()
def compose(raw: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The file as ``docker compose config`` would see it with ``env`` in .env."""
    resolved = resolve(raw, env)
    assert isinstance(resolved, dict)
    return resolved
