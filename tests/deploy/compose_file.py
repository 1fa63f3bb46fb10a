"""docker-compose.yaml as compose sees it (merge keys resolved, ``${VAR}`` interpolated) and the checks
the deployment has to pass. Docker does not run where the suite runs, so this is what stands in for it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"

# The services that run task code or hand it settings: each must see the same storage and secrets.
TASK_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
)
AIRFLOW_SERVICES = (*TASK_SERVICES, "airflow-init")
REQUIRED_SERVICES = ("postgres", "redis", *AIRFLOW_SERVICES)
SANDBOX_SERVICES = ("sandbox", "sandbox-connections")
REQUIRED_VOLUMES = ("postgres-db-volume", "airflow-logs", "ml-connector-staging", "ml-connector-state")
SECRETS = (
    "AIRFLOW__CORE__FERNET_KEY",
    "ML_CONNECTOR_FERNET_KEYS",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
)
SHARED_SETTINGS = (
    *SECRETS,
    "ML_CONNECTOR_STAGING_ROOT",
    "ML_CONNECTOR_STATE_DIR",
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
)
STAGING_VOLUME, STAGING_MOUNT = "ml-connector-staging", "/opt/airflow/ml_connector/staging"
STATE_VOLUME, STATE_MOUNT = "ml-connector-state", "/opt/airflow/ml_connector/state"
PROJECT_MOUNTS = {
    "./dags": "/opt/airflow/dags",
    "./include": "/opt/airflow/include",
    "./plugins": "/opt/airflow/plugins",
}

HEALTHY, COMPLETED = "service_healthy", "service_completed_successfully"
# What each service must wait for, and how (the start order of Airflow's own compose file).
DEPENDS_ON = {
    "airflow-init": {"postgres": HEALTHY, "redis": HEALTHY},
    "airflow-apiserver": {"postgres": HEALTHY, "redis": HEALTHY, "airflow-init": COMPLETED},
    "airflow-scheduler": {"postgres": HEALTHY, "redis": HEALTHY, "airflow-init": COMPLETED},
    "airflow-dag-processor": {"postgres": HEALTHY, "redis": HEALTHY, "airflow-init": COMPLETED},
    "airflow-triggerer": {"postgres": HEALTHY, "redis": HEALTHY, "airflow-init": COMPLETED},
    "airflow-worker": {
        "postgres": HEALTHY,
        "redis": HEALTHY,
        "airflow-init": COMPLETED,
        "airflow-apiserver": HEALTHY,
    },
    "sandbox-connections": {"postgres": HEALTHY, "redis": HEALTHY, "airflow-init": COMPLETED},
}
# A piece of each healthcheck's command that shows it probes the right thing.
HEALTHCHECKS = {
    "postgres": "pg_isready",
    "redis": "redis-cli ping",
    "airflow-apiserver": "curl --fail http://localhost:8080/api/v2/version",
    "airflow-scheduler": "curl --fail http://localhost:8974/health",
    "airflow-dag-processor": 'airflow jobs check --job-type DagProcessorJob --hostname "${HOSTNAME}"',
    "airflow-triggerer": 'airflow jobs check --job-type TriggererJob --hostname "${HOSTNAME}"',
    "airflow-worker": (
        "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping "
        '-d "celery@${HOSTNAME}"'
    ),
    "sandbox": "/_sandbox/stats",
}

_REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is unset or empty: compose stops with the same message."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"required variable {name} is missing a value: {message}")


def load(text: str | None = None) -> dict[str, Any]:
    """The file as YAML; PyYAML resolves the ``<<:`` merge keys as compose does."""
    data = yaml.safe_load(COMPOSE_FILE.read_text() if text is None else text)
    assert isinstance(data, dict)
    return data


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation of one string: ``$$``, ``$VAR``, ``${VAR}``, ``:-``/``-``, ``:?``/``?``,
    ``:+``/``+``."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["plain"]:
            return env.get(match["plain"], "")
        parts = _BRACED.fullmatch(match["braced"])
        if parts is None:
            raise ValueError(f"invalid interpolation ${{{match['braced']}}}")
        name, op, arg = parts["name"], parts["op"], parts["arg"] or ""
        current = env.get(name)
        present = current is not None and (current != "" or not (op or "").startswith(":"))
        if op in (":-", "-"):
            return current if present and current is not None else arg
        if op in (":?", "?"):
            if not present or current is None:
                raise MissingVariable(name, arg)
            return current
        if op in (":+", "+"):
            return arg if present else ""
        return current or ""

    return _REFERENCE.sub(substitute, value)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """Every string value interpolated (keys are not, as in compose)."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


def strings(node: Any) -> Iterator[str]:
    """Every string value of the document (YAML comments are not values, so they are left out)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)


def variables(doc: dict[str, Any]) -> dict[str, str | None]:
    """Each variable the file reads, with its operator (``":?"``, ``":-"``, ... or None)."""
    found: dict[str, str | None] = {}
    for text in strings(doc):
        for match in _REFERENCE.finditer(text):
            if match["plain"]:
                found.setdefault(match["plain"], None)
            elif match["braced"] is not None and (parts := _BRACED.fullmatch(match["braced"])):
                found[parts["name"]] = parts["op"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount target -> source, for the short (``src:target[:mode]``) and the long syntax."""
    found: dict[str, str] = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            found[volume["target"]] = volume.get("source", "")
        else:
            source, target, *_ = f"{volume}:".split(":")
            found[target] = source
    return found


def healthcheck_command(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return " ".join(test[1:] if isinstance(test, list) and test[:1] in (["CMD"], ["CMD-SHELL"]) else test)


def script(service: dict[str, Any]) -> str:
    """The shell script of a service run as ``bash -c SCRIPT``."""
    command = service.get("command") or []
    assert service.get("entrypoint") == "/bin/bash" and command[0] == "-c", "not a bash -c service"
    return str(command[1])


def problems(doc: dict[str, Any]) -> list[str]:
    """Every way the resolved file misses the deployment's requirements; empty when it meets them."""
    found: list[str] = []
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    found += [f"service {name} is missing" for name in REQUIRED_SERVICES if name not in services]
    found += [
        f"top-level volume {name} is missing"
        for name in REQUIRED_VOLUMES
        if name not in (doc.get("volumes") or {})
    ]
    if "x-airflow-common" not in doc:
        found.append("the x-airflow-common anchor is missing")
    common_env = environment(doc.get("x-airflow-common") or {})

    for name, probe in HEALTHCHECKS.items():
        if name in services and probe not in healthcheck_command(services[name]):
            found.append(f"{name}: healthcheck does not run {probe!r}")

    for name, wanted in DEPENDS_ON.items():
        if name not in services:
            continue
        depends = services[name].get("depends_on") or {}
        if not isinstance(depends, dict):
            found.append(f"{name}: depends_on is a list, so it waits for no condition")
            continue
        for dependency, condition in wanted.items():
            actual = (depends.get(dependency) or {}).get("condition")
            if actual != condition:
                found.append(f"{name}: depends_on {dependency} is {actual!r}, not {condition!r}")

    worker = services.get("airflow-worker", {})
    for key in ("container_name", "ports", "hostname"):
        if key in worker:
            found.append(f"airflow-worker: {key} stops docker compose up --scale airflow-worker=N")
    if "8080:8080" not in [str(port) for port in services.get("airflow-apiserver", {}).get("ports") or []]:
        found.append("airflow-apiserver: the UI is not published on port 8080")

    sharing = [name for name in (*AIRFLOW_SERVICES, "sandbox-connections") if name in services]
    for name in sharing:
        service, env = services[name], environment(services[name])
        for key, value in common_env.items():
            if env.get(key) != value:
                found.append(f"{name}: {key} differs from x-airflow-common")
        for key in SHARED_SETTINGS:
            if not env.get(key):
                found.append(f"{name}: {key} is not set")
        volumes = mounts(service)
        for target, source in (
            (STAGING_MOUNT, STAGING_VOLUME),
            (STATE_MOUNT, STATE_VOLUME),
            *((target, source) for source, target in PROJECT_MOUNTS.items()),
        ):
            if volumes.get(target) != source:
                found.append(f"{name}: {source} is not mounted at {target}")
        if env.get("ML_CONNECTOR_STATE_DIR") != STATE_MOUNT:
            found.append(f"{name}: ML_CONNECTOR_STATE_DIR is not the state volume {STATE_MOUNT}")
        staging = env.get("ML_CONNECTOR_STAGING_ROOT", "")
        if staging.startswith("file://") and staging != f"file://{STAGING_MOUNT}":
            found.append(f"{name}: ML_CONNECTOR_STAGING_ROOT {staging} is not the staging volume")
        if env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
            found.append(f"{name}: AIRFLOW__CORE__EXECUTOR is not CeleryExecutor")
        if service.get("image") != services.get("airflow-apiserver", {}).get("image"):
            found.append(f"{name}: runs another image than the API server")
    for key in SHARED_SETTINGS:
        values = {environment(services[name]).get(key) for name in sharing}
        if len(values) > 1:
            found.append(f"{key} differs between the Airflow services")

    if services.get("airflow-init", {}).get("user") != "0:0":
        found.append("airflow-init: does not run as root, so it cannot hand the volumes to airflow")
    for name, service in services.items():
        profiles = service.get("profiles")
        if name in SANDBOX_SERVICES and profiles != ["sandbox"]:
            found.append(f"{name}: not in the sandbox profile (and only there)")
        if name not in SANDBOX_SERVICES and profiles:
            found.append(f"{name}: in profiles {profiles}, so a plain docker compose up leaves it out")
    if "_PIP_ADDITIONAL_REQUIREMENTS" in yaml.safe_dump(doc):
        found.append("_PIP_ADDITIONAL_REQUIREMENTS is used: the package belongs in the image")
    return found
