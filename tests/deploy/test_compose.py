"""docker-compose.yaml: valid Compose, the services and start order of Airflow's own 3.x file, one set of
storage and secrets for every container that runs tasks, a working sandbox profile, and an .env.example
that lists what compose needs without holding a secret."""

from __future__ import annotations

import argparse
import base64
import copy
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from airflow.models.connection import Connection
from cryptography.fernet import Fernet
from deploy.compose_file import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    SECRETS,
    SHARED_SETTINGS,
    STAGING_MOUNT,
    TASK_SERVICES,
    MissingVariable,
    environment,
    healthcheck_command,
    interpolate,
    load,
    mounts,
    problems,
    resolve,
    script,
    variables,
)

import ml_connector.cli
from ml_connector.provider import get_provider_info
from ml_connector.sandbox.config import SandboxConfig, pipedrive_connection_uri, workday_connection_uri

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
INIT_CHECKS_END = "# -- settings checked; the database and the volumes follow --"


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_file_follows_the_compose_specification() -> None:
    result = check_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    """The schema check above can fail: a depends_on condition compose does not know is refused."""
    broken = COMPOSE_FILE.read_text().replace(
        "condition: service_completed_successfully", "condition: service_finished", 1
    )
    (tmp_path / "docker-compose.yaml").write_text(broken)
    result = check_schema(tmp_path / "docker-compose.yaml")
    assert result.returncode != 0
    assert "service_finished" in result.stdout + result.stderr


def test_the_file_meets_the_deployment_requirements(compose: dict[str, Any]) -> None:
    assert problems(compose) == []


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _unmount(service: str, target: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        volumes = doc["services"][service]["volumes"]
        doc["services"][service]["volumes"] = [v for v in volumes if not str(v).endswith(f":{target}")]

    return mutate


S = "services"
MUTATIONS = {
    "no triggerer": (_drop(f"{S}.airflow-triggerer"), "service airflow-triggerer is missing"),
    "no redis": (_drop(f"{S}.redis"), "service redis is missing"),
    "no state volume": (_drop("volumes.ml-connector-state"), "top-level volume ml-connector-state"),
    "worker container_name": (
        _set(f"{S}.airflow-worker.container_name", "w"),
        "airflow-worker: container_name",
    ),
    "worker host port": (_set(f"{S}.airflow-worker.ports", ["8793:8793"]), "airflow-worker: ports"),
    "init only started": (
        _set(f"{S}.airflow-scheduler.depends_on.airflow-init.condition", "service_started"),
        "airflow-scheduler: depends_on airflow-init is 'service_started'",
    ),
    "worker not waiting for the API": (
        _drop(f"{S}.airflow-worker.depends_on.airflow-apiserver"),
        "airflow-worker: depends_on airflow-apiserver is None",
    ),
    "no API healthcheck": (_drop(f"{S}.airflow-apiserver.healthcheck"), "airflow-apiserver: healthcheck"),
    "worker ping of another node": (
        _set(f"{S}.airflow-worker.healthcheck.test", ["CMD-SHELL", "celery inspect ping -d celery@"]),
        "airflow-worker: healthcheck",
    ),
    "worker with its own JWT secret": (
        _set(f"{S}.airflow-worker.environment.AIRFLOW__API_AUTH__JWT_SECRET", "other"),
        "AIRFLOW__API_AUTH__JWT_SECRET differs",
    ),
    "triggerer without the vault key": (
        _drop(f"{S}.airflow-triggerer.environment.ML_CONNECTOR_FERNET_KEYS"),
        "airflow-triggerer: ML_CONNECTOR_FERNET_KEYS is not set",
    ),
    "scheduler with its own staging root": (
        _set(f"{S}.airflow-scheduler.environment.ML_CONNECTOR_STAGING_ROOT", "file:///tmp/staging"),
        "ML_CONNECTOR_STAGING_ROOT differs",
    ),
    "worker without the state volume": (
        _unmount("airflow-worker", "/opt/airflow/ml_connector/state"),
        "airflow-worker: ml-connector-state is not mounted",
    ),
    "dag processor without include/": (
        _unmount("airflow-dag-processor", "/opt/airflow/include:ro"),
        "airflow-dag-processor: ./include is not mounted",
    ),
    "pip at container start": (
        _set(f"{S}.airflow-worker.environment._PIP_ADDITIONAL_REQUIREMENTS", "ml-connector"),
        "_PIP_ADDITIONAL_REQUIREMENTS",
    ),
    "sandbox in every start": (_drop(f"{S}.sandbox.profiles"), "sandbox: not in the sandbox profile"),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_the_checker_rejects_a_file_that_misses_a_requirement(compose: dict[str, Any], mutation: str) -> None:
    mutate, expected = MUTATIONS[mutation]
    broken = copy.deepcopy(compose)
    mutate(broken)
    assert any(expected in problem for problem in problems(broken)), problems(broken)


def test_every_task_service_sees_the_same_storage_and_secrets(
    raw: dict[str, Any], env: dict[str, str]
) -> None:
    """Also when the staging root is moved to an object store through .env."""
    env = {**env, "ML_CONNECTOR_STAGING_ROOT": "s3://aws_default@bucket/ml-connector"}
    services = resolve(raw, env)["services"]
    seen = {
        name: (
            {key: environment(services[name])[key] for key in SHARED_SETTINGS},
            {t: s for t, s in mounts(services[name]).items() if t.startswith("/opt/airflow/ml_connector")},
        )
        for name in TASK_SERVICES
    }
    first = seen[TASK_SERVICES[0]]
    assert all(value == first for value in seen.values()), seen
    settings, volumes = first
    assert settings["ML_CONNECTOR_STAGING_ROOT"] == "s3://aws_default@bucket/ml-connector"
    assert {key: settings[key] for key in SECRETS} == {key: env[key] for key in SECRETS}
    assert volumes == {
        "/opt/airflow/ml_connector/staging": "ml-connector-staging",
        "/opt/airflow/ml_connector/state": "ml-connector-state",
    }


def test_the_secrets_are_required_by_compose_itself(raw: dict[str, Any]) -> None:
    """``${VAR:?message}``: compose stops before starting anything when one is unset or empty."""
    read = variables(raw)
    for name in (*SECRETS, "AIRFLOW_ADMIN_PASSWORD"):
        assert read.get(name) == ":?", f"{name} is read with {read.get(name)!r}"
    assert environment(raw["x-airflow-common"])["ML_CONNECTOR_STAGING_ROOT"] == (
        f"${{ML_CONNECTOR_STAGING_ROOT:-file://{STAGING_MOUNT}}}"
    )


def test_compose_refuses_an_unfilled_env_file(raw: dict[str, Any], env: dict[str, str]) -> None:
    unfilled = dict(_assignments(ENV_EXAMPLE.read_text()))
    with pytest.raises(MissingVariable) as refused:
        resolve(raw, unfilled)
    assert refused.value.name in SECRETS
    assert ".env.example" in str(refused.value)
    for name in (*SECRETS, "AIRFLOW_ADMIN_PASSWORD"):
        with pytest.raises(MissingVariable, match=name):
            resolve(raw, {**env, name: ""})


def test_interpolation_follows_compose() -> None:
    """The stand-in for compose's interpolation, on the forms the file uses."""
    env = {"SET": "value", "EMPTY": ""}
    assert interpolate("$${HOSTNAME} $$1", env) == "${HOSTNAME} $1"
    assert interpolate("${SET:-d} ${EMPTY:-d} ${UNSET:-d} ${EMPTY-d}", env) == "value d d "
    assert interpolate("${SET:?m} ${EMPTY?m}", env) == "value "
    with pytest.raises(MissingVariable, match="EMPTY is missing a value: m"):
        interpolate("${EMPTY:?m}", env)


def _assignments(text: str, *, commented: bool = False) -> list[tuple[str, str]]:
    pattern = r"^#?\s?([A-Z_][A-Z0-9_]*)=(.*)$" if commented else r"^([A-Z_][A-Z0-9_]*)=(.*)$"
    return [(m[1], m[2]) for m in re.finditer(pattern, text, re.MULTILINE)]


def test_env_example_lists_every_variable_compose_reads(raw: dict[str, Any]) -> None:
    text = ENV_EXAMPLE.read_text()
    listed = dict(_assignments(text))
    mentioned = dict(_assignments(text, commented=True))
    for name, op in variables(raw).items():
        if op in (":?", "?"):
            assert name in listed, f"{name} is required by compose but not in .env.example"
        else:
            assert name in mentioned, f"{name} is read by compose but .env.example does not mention it"


def test_env_example_holds_no_secret_but_says_how_to_make_each() -> None:
    text = ENV_EXAMPLE.read_text()
    listed = dict(_assignments(text))
    for name in (*SECRETS, "AIRFLOW_ADMIN_PASSWORD"):
        assert listed[name] == "", f"{name} has a value in .env.example"
    assert not re.search(r"[A-Za-z0-9_-]{43}=", text), "something that looks like a Fernet key"
    assert not re.search(r"[A-Za-z0-9+/_-]{40,}", text), "something that looks like a token"
    for name in SECRETS:
        block = text.split(f"\n{name}=")[0].rsplit("\n\n", 1)[-1]
        kind = "Fernet.generate_key()" if "FERNET" in name else "secrets.token_urlsafe("
        assert kind in block, f"the comment above {name} does not say how to generate it"


def _generation_commands() -> dict[str, str]:
    """The command .env.example gives above each secret."""
    commands = {}
    for block in ENV_EXAMPLE.read_text().split("\n\n"):
        command = re.search(r"^#\s+(python -c .*)$", block, re.MULTILINE)
        for name, _ in _assignments(block):
            if command:
                commands[name] = command[1]
    return commands


def _init_checks() -> str:
    """airflow-init's settings checks (its script up to the database work), as bash will run them."""
    text = script(load()["services"]["airflow-init"])
    assert INIT_CHECKS_END in text
    return interpolate(text.split(INIT_CHECKS_END)[0], {})


def _run_init_checks(settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **settings}
    return subprocess.run(["bash", "-c", _init_checks()], env=env, capture_output=True, text=True, timeout=30)


def test_the_generated_values_pass_airflow_init() -> None:
    """Run the commands .env.example gives, then airflow-init's checks on what they printed."""
    commands = _generation_commands()
    assert set(SECRETS) <= set(commands)
    generated = {}
    for name in SECRETS:
        argv = shlex.split(commands[name])
        assert argv[0] == "python"
        output = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, check=True)
        generated[name] = output.stdout.strip()
    assert all(len(value) >= 32 for value in generated.values())
    result = _run_init_checks({**generated, "AIRFLOW_ADMIN_PASSWORD": "pw"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", [*SECRETS, "AIRFLOW_ADMIN_PASSWORD"])
def test_airflow_init_names_a_missing_variable(env: dict[str, str], missing: str) -> None:
    result = _run_init_checks({k: v for k, v in env.items() if k != missing})
    assert result.returncode == 1
    assert f"airflow-init: {missing} is not set" in result.stderr
    assert "Copy .env.example to .env" in result.stderr


@pytest.mark.parametrize("name", ["AIRFLOW__CORE__FERNET_KEY", "ML_CONNECTOR_FERNET_KEYS"])
def test_airflow_init_rejects_a_malformed_fernet_key_without_showing_it(
    env: dict[str, str], name: str
) -> None:
    bad = env[name][:30] + "="
    result = _run_init_checks({**env, name: f"{env[name]}, {bad}"})
    assert result.returncode == 1
    assert f"airflow-init: {name} holds something that is not a Fernet key" in result.stderr
    assert "Fernet.generate_key()" in result.stderr
    assert bad not in result.stderr + result.stdout
    rotation = f"{env[name]} , {env['AIRFLOW__CORE__FERNET_KEY']}"
    assert _run_init_checks({**env, name: rotation}).returncode == 0, "a key list (rotation) is allowed"


def test_airflow_init_accepts_a_fernet_key_exactly_when_fernet_does(env: dict[str, str]) -> None:
    key = Fernet.generate_key().decode()
    candidates = [
        key,
        base64.b64encode(os.urandom(32)).decode(),  # openssl rand -base64 32: "+" and "/" work too
        key[:20],
        key[:-1],
        key[:43] + "A",
        "not-a-key",
        "a" * 32,
    ]
    for candidate in candidates:
        try:
            Fernet(candidate)
            valid = True
        except ValueError:
            valid = False
        accepted = _run_init_checks({**env, "ML_CONNECTOR_FERNET_KEYS": candidate}).returncode == 0
        assert accepted == valid, candidate


def test_airflow_init_migrates_creates_the_admin_and_the_pools(
    compose: dict[str, Any], env: dict[str, str]
) -> None:
    init = compose["services"]["airflow-init"]
    steps = script(init).split(INIT_CHECKS_END)[1]
    assert "/entrypoint airflow db migrate\n" in steps
    assert '/entrypoint airflow users create --role Admin --username "${AIRFLOW_ADMIN_USERNAME}"' in steps
    assert '--password "${AIRFLOW_ADMIN_PASSWORD}"' in steps
    for pool in ("workday_api", "pipedrive_api"):
        assert f"/entrypoint airflow pools set {pool} 1 " in steps
    assert "set -euo pipefail" in script(init), "a failed step must fail airflow-init"
    assert environment(init)["AIRFLOW_ADMIN_PASSWORD"] == env["AIRFLOW_ADMIN_PASSWORD"]
    assert "FabAuthManager" in environment(init)["AIRFLOW__CORE__AUTH_MANAGER"]


def _sandbox_ports(compose: dict[str, Any]) -> tuple[SandboxConfig, dict[str, int]]:
    """The SandboxConfig the sandbox service's command builds, parsed by the real CLI."""
    command = compose["services"]["sandbox"]["command"]
    assert command[:2] == ["ml-connector", "sandbox"]
    started: list[SandboxConfig] = []

    def run(config: SandboxConfig) -> int:
        started.append(config)
        return 0

    saved = ml_connector.cli.run_sandbox_foreground
    ml_connector.cli.run_sandbox_foreground = run  # type: ignore[assignment]
    try:
        assert ml_connector.cli.main(command[1:]) == 0
    finally:
        ml_connector.cli.run_sandbox_foreground = saved
    config = started[0]
    return config, {"workday": config.workday_port, "pipedrive": config.pipedrive_port}


def test_the_sandbox_listens_inside_the_network(compose: dict[str, Any]) -> None:
    config, ports = _sandbox_ports(compose)
    assert config.host == "0.0.0.0"
    assert ports == {"workday": 8081, "pipedrive": 8082}
    sandbox = compose["services"]["sandbox"]
    probe = healthcheck_command(sandbox)
    assert all(f"http://localhost:{port}/_sandbox/stats" in probe for port in ports.values())
    assert environment(sandbox)["CONNECTION_CHECK_MAX_COUNT"] == "0", "it must not wait for the metadata DB"
    defaults = argparse.ArgumentParser()
    ml_connector.cli.add_sandbox_arguments(defaults)
    assert config.customers == defaults.parse_args([]).customers


def test_the_sandbox_profile_points_both_connections_at_the_sandbox(compose: dict[str, Any]) -> None:
    """The URIs are what `ml-connector sandbox` prints, with the service name for a host."""
    _, ports = _sandbox_ports(compose)
    defaults = SandboxConfig()
    expected = {
        "workday_default": workday_connection_uri(f"http://sandbox:{ports['workday']}", defaults.workday),
        "pipedrive_default": pipedrive_connection_uri(
            f"http://sandbox:{ports['pipedrive']}",
            defaults.pipedrive,
            defaults.pipedrive_plan,
            defaults.pipedrive_seats,
        ),
    }
    text = script(compose["services"]["sandbox-connections"])
    added = dict(re.findall(r"^add_connection (\w+) '([^']+)'$", text, re.MULTILINE))
    assert added == expected
    assert 'airflow connections get "$1"' in text, "an existing connection must be left alone"
    types = {item["connection-type"] for item in get_provider_info()["connection-types"]}
    for conn_id, uri in added.items():
        conn = Connection(conn_id=conn_id, uri=uri)
        assert conn.conn_type in types and conn.conn_type == conn_id.removesuffix("_default")
        assert (conn.host, conn.port) == ("sandbox", ports[conn.conn_type])
        assert urlsplit(uri).hostname in compose["services"]


def test_the_image_is_built_here_with_no_pip_at_start(raw: dict[str, Any]) -> None:
    common = raw["x-airflow-common"]
    assert common["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE_FILE.read_text() + ENV_EXAMPLE.read_text()
    for name in (*TASK_SERVICES, "airflow-init", "sandbox", "sandbox-connections"):
        assert raw["services"][name]["image"] == common["image"]
        assert raw["services"][name]["build"] == common["build"]


def test_every_compose_shell_script_escapes_its_dollars(raw: dict[str, Any]) -> None:
    """In a command, ``$`` is compose's: a shell variable must be written ``$$`` or compose replaces it."""
    scripts = [script(raw["services"][name]) for name in ("airflow-init", "sandbox-connections")]
    for text in scripts:
        assert "$" not in text.replace("$$", "")
    assert all("$" not in line.replace("$$", "") for line in raw["services"]["sandbox"]["command"])
