"""compose.yaml: valid against the Compose Specification, and consistent in ways a schema cannot see.

No Docker engine is needed: the file is validated with the Compose Specification JSON Schema that the
check-jsonschema package ships (`--builtin-schema vendor.compose-spec`), and the rest is read as YAML.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"

# What the worker cannot run without (CONTRACT section 6).
REQUIRED_WORKER_VARS = ("AMQP_URL", "DATABASE_URL", "SEVDESK_URL", "SECRET_KEYS")
# Values that must come from the operator's environment, never from the file.
REQUIRED_SECRETS = ("SEVSYNC_SECRET_KEYS", "SEVSYNC_ADMIN_TOKEN")
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY", re.IGNORECASE)
# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`, `${NAME?message}`.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
# A Fernet key: 32 bytes, URL-safe base64.
FERNET_LITERAL = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=")
# Where a person on the Docker host opens the ops console (the worker's published HTTP port).
CONSOLE_URL = "http://127.0.0.1:8080/"
READINESS_PATH = "/readyz"
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|h|m|s)")
DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def settings_fields() -> dict[str, Any]:
    """`sevsync.config.Settings.model_fields`, imported at run time: the editable install maps the folder
    `worker/` to the package `sevsync` through an import hook that mypy cannot follow."""
    fields: dict[str, Any] = importlib.import_module("sevsync.config").Settings.model_fields
    return fields


def load_yaml(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe", pure=True).load(path)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def dump_yaml(data: dict[str, Any], path: Path) -> None:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as stream:
        yaml.dump(data, stream)


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema from the running interpreter's environment, with its bundled compose schema."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def with_defaults(value: str) -> str:
    """The value Compose would produce with no variables set (required ones stand in as `<NAME>`)."""

    def replace(match: re.Match[str]) -> str:
        op = match.group("op") or ""
        if op.endswith("-"):
            return match.group("arg")
        if op.endswith("?"):
            return f"<{match.group('name')}>"
        return ""

    return INTERPOLATION.sub(replace, value)


def seconds(duration: str) -> float:
    """A Compose duration such as `40s` or `1m30s`."""
    parts = DURATION_PART.findall(duration)
    assert parts, f"not a duration: {duration!r}"
    assert "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(n) * DURATION_UNITS[u] for n, u in parts)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `KEY=value` list form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    assert isinstance(env, dict)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def worker_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return environment(services["worker"])


# --- schema ----------------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    result = check_compose_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def _ports_as_string(data: dict[str, Any]) -> None:
    data["services"]["worker"]["ports"] = "8080"


def _unknown_top_level_key(data: dict[str, Any]) -> None:
    data["servicess"] = {}


def _unknown_service_key(data: dict[str, Any]) -> None:
    data["services"]["worker"]["depends"] = ["postgres"]


def _grace_period_as_number(data: dict[str, Any]) -> None:
    data["services"]["worker"]["stop_grace_period"] = 40


@pytest.mark.parametrize(
    "breakage",
    [_ports_as_string, _unknown_top_level_key, _unknown_service_key, _grace_period_as_number],
)
def test_schema_check_rejects_a_broken_compose_file(
    tmp_path: Path, breakage: Callable[[dict[str, Any]], None]
) -> None:
    # The unchanged copy passes, so a failure below comes from the breakage alone.
    intact = tmp_path / "intact.yaml"
    dump_yaml(load_yaml(COMPOSE_FILE), intact)
    assert check_compose_schema(intact).returncode == 0

    data = load_yaml(COMPOSE_FILE)
    breakage(data)
    broken = tmp_path / "compose.yaml"
    dump_yaml(data, broken)
    result = check_compose_schema(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "validation errors" in result.stdout + result.stderr


# --- semantics -------------------------------------------------------------------------------------


def test_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_expected_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"rabbitmq", "postgres", "sandbox", "migrate", "worker"} <= services.keys()


def test_every_dependency_is_a_service(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency in service.get("depends_on") or ():
            assert dependency in services, f"{name} depends on unknown service {dependency!r}"


def test_worker_waits_for_its_dependencies(services: dict[str, dict[str, Any]]) -> None:
    depends_on = services["worker"]["depends_on"]
    assert depends_on["rabbitmq"]["condition"] == "service_healthy"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["sandbox"]["condition"] in {"service_started", "service_healthy"}
    # A healthy-condition needs a healthcheck to become healthy at all.
    for name, spec in depends_on.items():
        if spec["condition"] == "service_healthy":
            assert "healthcheck" in services[name], f"{name} has no healthcheck"
            assert not services[name]["healthcheck"].get("disable"), f"{name} disables its healthcheck"


def test_migrate_runs_once(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_sevsync_services_share_the_image(services: dict[str, dict[str, Any]]) -> None:
    for name in ("sandbox", "migrate", "worker"):
        assert services[name].get("build") == ".", name
        assert services[name].get("image") == services["worker"].get("image"), name


def test_worker_environment_is_complete(worker_env: dict[str, str]) -> None:
    missing = [var for var in REQUIRED_WORKER_VARS if not worker_env.get(f"SEVSYNC_{var}")]
    assert not missing, f"worker environment lacks SEVSYNC_{missing}"


def test_worker_environment_names_real_settings(worker_env: dict[str, str]) -> None:
    # Settings ignores unknown variables, so a misspelt name would otherwise go unnoticed.
    known = {f"SEVSYNC_{field.upper()}" for field in settings_fields()}
    unknown = sorted(name for name in worker_env if name.startswith("SEVSYNC_") and name not in known)
    assert not unknown, f"not sevsync settings: {unknown}"


def test_worker_urls_point_at_services(
    services: dict[str, dict[str, Any]], worker_env: dict[str, str]
) -> None:
    amqp = urlsplit(with_defaults(worker_env["SEVSYNC_AMQP_URL"]))
    assert amqp.scheme == "amqp"
    assert amqp.hostname == "rabbitmq"
    assert amqp.port == 5672

    database = urlsplit(with_defaults(worker_env["SEVSYNC_DATABASE_URL"]))
    assert database.scheme in {"postgresql", "postgres"}
    assert database.hostname == "postgres"
    assert database.port == 5432
    assert database.path.lstrip("/") == environment(services["postgres"]).get("POSTGRES_DB", "postgres")

    sevdesk = urlsplit(with_defaults(worker_env["SEVSYNC_SEVDESK_URL"]))
    assert sevdesk.hostname == "sandbox"
    assert sevdesk.path.rstrip("/") == "/api/v1"
    command = [str(arg) for arg in services["sandbox"]["command"]]
    assert command[0] == "sandbox"
    assert command[command.index("--port") + 1] == str(sevdesk.port)


def test_sandbox_demo_token_is_overridable(services: dict[str, dict[str, Any]]) -> None:
    command = [str(arg) for arg in services["sandbox"]["command"]]
    token = command[command.index("--token") + 1]
    match = INTERPOLATION.fullmatch(token)
    assert match, f"the demo token should come from ${{SEVSYNC_DEMO_TOKEN:-...}}, got {token!r}"
    assert match.group("name") == "SEVSYNC_DEMO_TOKEN"
    assert match.group("op") == ":-"
    assert re.fullmatch(r"[0-9a-f]{32}", match.group("arg"))


@pytest.mark.parametrize("name", REQUIRED_SECRETS)
def test_secrets_come_from_the_environment_without_a_default(worker_env: dict[str, str], name: str) -> None:
    # Empty when unset: the worker refuses to start without its keys and says why, while Compose
    # commands that do not start it (config, run, migrate) work without the secrets.
    value = worker_env[name]
    match = INTERPOLATION.fullmatch(value)
    assert match, f"{name} must be exactly ${{{name}:-}}, got {value!r}"
    assert match.group("name") == name
    assert (match.group("op"), match.group("arg")) == (":-", ""), f"{name} must have no default value"


def test_no_variable_is_required() -> None:
    # Compose interpolates the whole file for every command, so one `${VAR?message}` anywhere makes
    # `docker compose config` or `run` fail while VAR is unset.
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    required = [m.group(0) for m in INTERPOLATION.finditer(text) if (m.group("op") or "").endswith("?")]
    assert not required, f"required variables: {required}"


def test_the_worker_refuses_to_start_without_its_keys() -> None:
    cipher = importlib.import_module("sevsync.tenants.crypto")
    with pytest.raises(cipher.SecretKeyError, match="SEVSYNC_SECRET_KEYS is not set"):
        cipher.TokenCipher(None)


def test_no_literal_secrets(services: dict[str, dict[str, Any]]) -> None:
    for service_name, service in services.items():
        for name, value in environment(service).items():
            if SECRET_NAME.search(name) and value:
                assert INTERPOLATION.search(value), f"{service_name}: {name} holds a literal value"
            for url in re.findall(r"[a-z]+://[^\s\"']+", value):
                password = urlsplit(url).password
                if password:
                    assert INTERPOLATION.search(password), f"{service_name}: {name} holds a password"


def test_no_fernet_key_in_the_file() -> None:
    assert not FERNET_LITERAL.search(COMPOSE_FILE.read_text(encoding="utf-8"))


def test_worker_grace_period_outlasts_its_shutdown(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    shutdown_timeout = settings_fields()["shutdown_timeout"].default
    assert isinstance(shutdown_timeout, float)
    assert seconds(worker["stop_grace_period"]) > shutdown_timeout
    assert worker["restart"] == "unless-stopped"


def test_worker_port_is_published(services: dict[str, dict[str, Any]], worker_env: dict[str, str]) -> None:
    port = worker_env.get("SEVSYNC_HTTP_PORT", "8080")
    targets = {str(entry).rsplit(":", 1)[-1] for entry in services["worker"].get("ports", [])}
    assert port in targets


def test_the_console_url_from_the_host_is_the_published_port(
    services: dict[str, dict[str, Any]], worker_env: dict[str, str]
) -> None:
    port = worker_env.get("SEVSYNC_HTTP_PORT", "8080")
    published = [str(e).rsplit(":", 2) for e in services["worker"]["ports"] if str(e).endswith(f":{port}")]
    assert [[host_ip, host_port] for host_ip, host_port, _ in published] == [["127.0.0.1", "8080"]]
    # The console is `/` of the worker's HTTP port (admin/console.py); the file's header names it.
    assert f"ops console  {CONSOLE_URL}  (log in with SEVSYNC_ADMIN_TOKEN)" in COMPOSE_FILE.read_text("utf-8")
    host_ip, host_port, _ = published[0]
    assert f"http://{host_ip}:{host_port}/" == CONSOLE_URL


def test_worker_health_is_its_readiness(
    services: dict[str, dict[str, Any]], worker_env: dict[str, str]
) -> None:
    check = services["worker"]["healthcheck"]
    assert not check.get("disable")
    command = [str(part) for part in check["test"]]
    # Exec form with the image's interpreter: the slim image has no shell tools such as curl.
    assert command[:3] == ["CMD", "python", "-c"]
    port = worker_env.get("SEVSYNC_HTTP_PORT", "8080")
    assert f"urlopen('http://127.0.0.1:{port}/readyz'" in command[3]
    compile(command[3], "healthcheck", "exec")  # valid Python
    assert READINESS_PATH in _health_paths()


def _health_paths() -> set[str]:
    routes = importlib.import_module("sevsync.admin.http").health_routes(None)
    return {str(route.path) for route in routes}
