"""Static checks of the Docker deployment: docker-compose.yml, the Dockerfile and .env.example
must agree with each other and with the settings the application reads. No Docker needed."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from sqlalchemy.engine import make_url

from core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"

APP_SERVICES = ("api", "worker")
CLI_SUBCOMMANDS = {"api", "worker", "migrate", "seed", "dev"}
DEPENDS_ON_CONDITIONS = {
    "service_started",
    "service_healthy",
    "service_completed_successfully",
}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, ${VAR:+alt}, $VAR.
_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def _without_escapes(text: str) -> list[str]:
    """The pieces of ``text`` between ``$$`` escapes (which compose turns into a literal ``$``)."""
    return text.split("$$")


def compose_variables(text: str) -> list[re.Match[str]]:
    return [m for piece in _without_escapes(text) for m in _VARIABLE.finditer(piece)]


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose-style variable interpolation, enough for the forms this repository uses."""

    def substitute(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"]
        current = env.get(name)
        unset_or_empty = not current if op and op.startswith(":") else current is None
        if op in (":-", "-"):
            return arg if unset_or_empty else str(current)
        if op in (":?", "?"):
            if unset_or_empty:
                raise KeyError(f"{name} is required: {arg}")
            return str(current)
        if op in (":+", "+"):
            return "" if unset_or_empty else arg
        return current or ""

    return "$".join(_VARIABLE.sub(substitute, piece) for piece in _without_escapes(value))


def parse_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {raw!r}"
        values[key.strip()] = value.strip()
    return values


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on_of(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command or []]


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every bind mount; named volumes are left out."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":", 1)[0]
        else:
            if volume.get("type", "volume") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        if source.startswith(("./", "../", "/")):
            mounts.append((source, target))
    return mounts


def settings_env_names() -> set[str]:
    """Every environment variable name that ``core.settings.Settings`` reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    data = yaml.safe_load(compose_text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_expected_services_exist(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "postgresql",
        "temporal-admin-tools",
        "temporal",
        "temporal-create-namespace",
        "temporal-ui",
        "migrate",
        "api",
        "worker",
    }
    assert expected <= services.keys()


def test_depends_on_references_existing_services(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency, condition in depends_on_of(service).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert dependency != name, f"{name} depends on itself"
            assert condition in DEPENDS_ON_CONDITIONS, f"{name}: bad condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], (
                    f"{name} waits for {dependency} to be healthy, but it has no healthcheck"
                )


def test_no_service_uses_deprecated_auto_setup_image(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        assert "auto-setup" not in str(service.get("image", "")), name


def test_app_services_build_the_local_image_and_run_the_cli(
    services: dict[str, dict[str, Any]], pyproject: dict[str, Any]
) -> None:
    assert "receptionist" in pyproject["project"]["scripts"]
    for name in (*APP_SERVICES, "migrate"):
        service = services[name]
        build = service.get("build")
        assert build is not None, f"{name} does not build from this repository"
        if isinstance(build, str):
            build = {"context": build}
        context = (REPO / build.get("context", ".")).resolve()
        assert context == REPO, f"{name} builds from {context}, not the repository root"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE

        command = command_of(service)
        assert command[:1] == ["receptionist"], f"{name} runs {command}"
        assert len(command) > 1 and command[1] in CLI_SUBCOMMANDS, f"{name} runs {command}"
    assert command_of(services["api"])[1] == "api"
    assert command_of(services["worker"])[1] == "worker"
    assert command_of(services["migrate"])[1] == "migrate"


def test_app_services_wait_for_migrations_and_the_namespace(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        deps = depends_on_of(services[name])
        assert deps.get("postgresql") == "service_healthy", name
        assert deps.get("migrate") == "service_completed_successfully", name
        assert deps.get("temporal-create-namespace") == "service_completed_successfully", name


def test_app_environment_matches_the_settings(
    services: dict[str, dict[str, Any]],
    env_example: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    known = settings_env_names()
    init_scripts = [
        REPO / source
        for source, target in bind_mounts(services["postgresql"])
        if target.startswith("/docker-entrypoint-initdb.d/")
    ]
    assert init_scripts, "postgresql has no init script for the application database"
    init_sql = "\n".join(path.read_text() for path in init_scripts)

    for name in (*APP_SERVICES, "migrate"):
        env = {k: interpolate(v, env_example) for k, v in environment_of(services[name]).items()}
        assert not env.keys() - known, f"{name} sets variables the app never reads"

        url = make_url(env["DATABASE_URL"])
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert url.host in services, f"{name}: database host {url.host} is not a service"
        assert url.password == env_example["POSTGRES_PASSWORD"], name
        assert f"CREATE ROLE {url.username}" in init_sql, f"no role {url.username} is created"
        assert f"CREATE DATABASE {url.database}" in init_sql, f"no db {url.database} is created"

        host, _, port = env["TEMPORAL_ADDRESS"].rpartition(":")
        assert (host, port) == ("temporal", "7233"), name
        assert "temporalio/server" in services[host]["image"]

        for variable in known:
            monkeypatch.delenv(variable, raising=False)
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        settings = Settings()
        assert settings.resolved_database_url == env["DATABASE_URL"]
        assert settings.temporal_address == "temporal:7233"
        assert settings.data_dir == Path("/data")
        data_mounts = [
            v for v in services[name].get("volumes") or [] if str(v).split(":")[1:2] == ["/data"]
        ]
        assert data_mounts, f"{name} keeps {settings.data_dir} on the container's filesystem"


def test_api_port_is_consistent(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    command = command_of(api)
    port = command[command.index("--port") + 1]
    host = command[command.index("--host") + 1]
    assert host == "0.0.0.0"
    container_ports = {str(mapping).rsplit(":", 1)[-1] for mapping in api.get("ports", [])}
    assert port in container_ports
    probe = " ".join(str(part) for part in api["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/healthz" in probe


def test_repository_files_mounted_into_containers_exist(
    services: dict[str, dict[str, Any]],
) -> None:
    mounted = 0
    for name, service in services.items():
        for source, _target in bind_mounts(service):
            assert source.startswith("./"), f"{name} mounts {source} from outside the repository"
            assert (REPO / source).exists(), f"{name} mounts missing {source}"
            mounted += 1
    assert mounted >= 3


def test_temporal_schema_setup_covers_both_databases(
    services: dict[str, dict[str, Any]],
) -> None:
    scripts = [REPO / source for source, _ in bind_mounts(services["temporal-admin-tools"])]
    text = "\n".join(path.read_text() for path in scripts if path.is_file())
    assert "--plugin postgres12" in text
    schema_root = "/etc/temporal/schema/postgresql/v12"
    for database, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f"--db {database} create-database" in text, database
        assert f"--db {database} setup-schema -v 0.0" in text, database
        assert f"--db {database} update-schema -d {schema_root}/{schema}/versioned" in text


def test_dynamic_config_enables_update_with_start(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    configured = PurePosixPath(environment_of(temporal)["DYNAMIC_CONFIG_FILE_PATH"])
    # A relative path is resolved against the server image's working directory.
    in_container = configured if configured.is_absolute() else "/etc/temporal" / configured

    host_file = None
    for source, target in bind_mounts(temporal):
        target_path = PurePosixPath(target)
        if in_container == target_path:
            host_file = REPO / source
        elif target_path in in_container.parents:
            host_file = REPO / source / in_container.relative_to(target_path)
    assert host_file is not None, f"nothing is mounted at {in_container}"

    config = yaml.safe_load(host_file.read_text())
    for key in (
        "frontend.enableExecuteMultiOperation",
        "frontend.enableUpdateWorkflowExecution",
        "frontend.enableUpdateWorkflowExecutionAsyncAccepted",
    ):
        unconstrained = [e["value"] for e in config.get(key) or [] if not e.get("constraints")]
        assert any(v is True for v in unconstrained), f"{key} is not enabled for every namespace"


def test_dockerfile_copies_every_packaged_module(pyproject: dict[str, Any]) -> None:
    assert DOCKERFILE.is_file()
    only_include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["only-include"]
    instructions = dockerfile_instructions(DOCKERFILE.read_text())

    copied: set[str] = set()
    for keyword, args in instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        if args.startswith("["):
            parts = json.loads(args)
        else:
            parts = [part for part in shlex.split(args) if not part.startswith("--")]
        copied.update(part.rstrip("/").removeprefix("./") for part in parts[:-1])

    assert not copied & {"", "."}, "COPY . would defeat the dependency layer cache"
    missing = [item for item in only_include if item.rstrip("/") not in copied]
    assert not missing, f"the Dockerfile does not copy {missing}"
    assert {"pyproject.toml", "uv.lock", "README.md"} <= copied


def test_dockerfile_installs_dependencies_before_copying_the_source(
    pyproject: dict[str, Any],
) -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    only_include = set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["only-include"])

    def index_of(predicate: Any) -> int:
        return next(i for i, instr in enumerate(instructions) if predicate(instr))

    deps_sync = index_of(lambda i: i[0] == "RUN" and "--no-install-project" in i[1])
    first_source_copy = index_of(
        lambda i: i[0] == "COPY" and any(p.rstrip("/") in only_include for p in i[1].split())
    )
    project_sync = index_of(
        lambda i: i[0] == "RUN" and "uv sync" in i[1] and "--no-install-project" not in i[1]
    )
    assert deps_sync < first_source_copy < project_sync
    for _, args in instructions:
        if "uv sync" in args:
            assert "--frozen" in args and "--no-dev" in args, args

    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    cmd = next(args for keyword, args in reversed(instructions) if keyword == "CMD")
    assert json.loads(cmd)[0] == "receptionist"


def test_dockerignore_keeps_local_state_out_of_the_build() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "data", ".git", ".env"} <= patterns


def test_env_example_defines_every_compose_variable(
    compose_text: str, env_example: dict[str, str]
) -> None:
    matches = compose_variables(compose_text)
    used = {m["braced"] or m["bare"] for m in matches}
    assert "POSTGRES_PASSWORD" in used
    assert not used - env_example.keys(), f".env.example lacks {used - env_example.keys()}"

    for match in matches:
        name = match["braced"] or match["bare"]
        if match["op"] == ":-":
            # The compose defaults and .env.example must pin the same versions.
            assert match["arg"] == env_example[name], f"{name}: {match['arg']} != .env.example"
        if name == "POSTGRES_PASSWORD":
            assert match["op"] == ":?", "the password must be required, never defaulted"


def test_compose_fails_without_a_password(compose_text: str, env_example: dict[str, str]) -> None:
    without_password = {k: v for k, v in env_example.items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(compose_text, without_password)
    assert "change-me" in interpolate(compose_text, env_example)
