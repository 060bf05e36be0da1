"""docker-compose.yml, checked without a Docker engine.

Debian's docker-compose 1.29 validates the file against the compose schema and
interpolates it (`config` needs no daemon); the rest are the project's own rules.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml
from pydantic_settings import BaseSettings

from inplay_events.runtime import env_name
from inplay_events.topics import DEAD_LETTER_TOPIC, TOPICS

from .deployfiles import (
    BOOTSTRAP_HINT,
    COMPOSE_FILE,
    ROOT,
    compose_config,
    docker_compose_cli,
    host_ip_of,
    packages_in_image,
    python_module_of,
)

IMAGE = "inplay"
INFRA = {"kafka", "redis", "timescaledb"}
# The variables the Python services read (DESIGN.md: settings come from the environment).
SERVICE_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_IDEMPOTENCE",
    "REDIS_URL",
    "DATABASE_URL",
    "SIM_EVENTS_PER_SEC",
    "SIM_GAMES",
    "SIM_SEED",
    "SIM_SPEEDUP",
    "LOG_LEVEL",
}
SIM_KNOBS = sorted(v for v in SERVICE_ENV if v.startswith("SIM_"))
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def cli() -> str:
    cli = docker_compose_cli()
    if cli is None:
        pytest.fail(BOOTSTRAP_HINT)
    return cli


@pytest.fixture(scope="module")
def raw() -> dict:
    """The file as written (anchors merged), before interpolation and normalisation."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def resolved(cli: str) -> dict:
    """The file as docker-compose resolves it, with every variable at its default."""
    return compose_config(COMPOSE_FILE).resolved()


# --- checks, as functions of the parsed file so that broken variants can be fed in ------


def python_services(config: dict) -> dict[str, dict]:
    return {n: s for n, s in config["services"].items() if "build" in s or s.get("image") == IMAGE}


def one_shot(service: dict) -> bool:
    return str(service.get("restart", "no")) == "no" and "healthcheck" not in service


def dependency_problems(config: dict) -> list[str]:
    """Every depends_on names a service and a condition that fits it."""
    services = config["services"]
    problems = []
    for name, service in services.items():
        deps = service.get("depends_on", {})
        if isinstance(deps, list):
            problems.append(f"{name}: depends_on is a list; give each dependency a condition")
            continue
        for dep, spec in deps.items():
            condition = (spec or {}).get("condition")
            target = services.get(dep)
            if target is None:
                problems.append(f"{name}: depends on unknown service {dep}")
            elif condition not in CONDITIONS:
                problems.append(f"{name}: depends_on {dep} has no valid condition ({condition})")
            elif condition == "service_healthy" and "healthcheck" not in target:
                problems.append(f"{name}: waits for {dep} to be healthy, but it has no healthcheck")
            elif condition == "service_completed_successfully" and not one_shot(target):
                problems.append(
                    f"{name}: waits for {dep} to complete, but it is not a one-shot job"
                )
    return problems


def port_problems(config: dict) -> list[str]:
    return [
        f"{name}: port {port!r} is not bound to 127.0.0.1"
        for name, service in config["services"].items()
        for port in service.get("ports", [])
        if host_ip_of(port) != "127.0.0.1"
    ]


def build_problems(config: dict, root: Path = ROOT) -> list[str]:
    """Every built service uses the one Dockerfile and the one image name."""
    problems = []
    for name, service in python_services(config).items():
        build = service.get("build")
        if build is None:
            problems.append(f"{name}: uses image {IMAGE} but has no build")
            continue
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile")
        if (root / context).resolve() != root:
            problems.append(f"{name}: build context {context} is not the repository root")
        if dockerfile not in ("Dockerfile", "./Dockerfile"):
            problems.append(f"{name}: builds {dockerfile}, not the one Dockerfile")
        if service.get("image") != IMAGE:
            problems.append(f"{name}: built image is named {service.get('image')}, not {IMAGE}")
    return problems


def command_problems(config: dict, root: Path = ROOT) -> list[str]:
    """Every `python -m X` names a package of this repo that the image contains."""
    problems = []
    shipped = packages_in_image(root)
    for name, service in python_services(config).items():
        module = python_module_of(service.get("command"))
        if module is None:
            problems.append(f"{name}: command is not `python -m <package> ...`")
            continue
        package = module.split(".")[0]
        if not (root / package / "__init__.py").is_file():
            problems.append(f"{name}: runs python -m {module}, but {package}/ is no package here")
        elif not (root / Path(*module.split(".")) / "__main__.py").is_file():
            problems.append(f"{name}: runs python -m {module}, which has no __main__.py")
        elif package not in shipped:
            problems.append(f"{name}: runs python -m {module}, but .dockerignore keeps it out")
    return problems


# --- the tests --------------------------------------------------------------------------


def test_docker_compose_config_accepts_the_file(cli: str) -> None:
    result = compose_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr
    # An unset ${VAR} (no default) or a missing $$ escape shows up here as
    # "The X variable is not set. Defaulting to a blank string."
    assert result.stderr.strip() == "", result.stderr


def test_docker_compose_config_rejects_a_broken_file(cli: str, tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  kafka:\n    image: apache/kafka:3.9.1\n    ports: 9092\n")
    assert compose_config(broken, project_dir=tmp_path).returncode != 0


def test_services_exist(raw: dict) -> None:
    assert set(raw["services"]) >= INFRA
    assert "producer" in raw["services"]
    assert not [n for n in raw["services"] if "zookeeper" in n]


def test_built_services_use_the_one_dockerfile(resolved: dict, raw: dict) -> None:
    assert python_services(resolved), "no service is built from the Dockerfile"
    assert build_problems(resolved) == []
    assert (ROOT / "Dockerfile").is_file()


def test_every_depends_on_has_a_condition(raw: dict) -> None:
    # Checked on the file as written: `config` turns a plain list into service_started.
    assert dependency_problems(raw) == []


def test_infra_services_have_healthchecks(resolved: dict) -> None:
    for name in INFRA:
        check = resolved["services"][name].get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"] and check["test"][0] in ("CMD", "CMD-SHELL"), check


def test_kafka_runs_kraft_without_zookeeper(resolved: dict) -> None:
    kafka = resolved["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    roles = set(env["KAFKA_PROCESS_ROLES"].split(","))
    assert roles == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    for name, service in resolved["services"].items():
        assert "zookeeper" not in str(service.get("image", "")), name
        assert "KAFKA_ZOOKEEPER_CONNECT" not in (service.get("environment") or {}), name


def test_kafka_init_creates_every_contract_topic(resolved: dict) -> None:
    init = resolved["services"]["kafka-init"]
    script = " ".join(map(str, init.get("entrypoint") or [])) + " " + str(init["command"])
    assert "kafka-topics.sh" in script
    for topic in (*TOPICS, DEAD_LETTER_TOPIC):
        assert re.search(rf"(?<![\w-]){re.escape(topic)}(?![\w-])", script), topic
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_timescaledb_is_the_community_image_on_pg15(resolved: dict) -> None:
    db = resolved["services"]["timescaledb"]
    # timescale/timescaledb without "-oss" is the community (TSL) build.
    assert re.fullmatch(r"timescale/timescaledb:[\w.-]*pg15", db["image"]), db["image"]
    assert db["environment"]["POSTGRES_DB"] == "inplay"
    assert db["environment"]["POSTGRES_PASSWORD"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(":/var/lib/postgresql/data" in str(v) for v in db.get("volumes", []))


def test_ports_bind_loopback_only(resolved: dict) -> None:
    assert port_problems(resolved) == []


def test_kafka_host_listener_follows_the_published_port(cli: str) -> None:
    kafka = compose_config(COMPOSE_FILE, env={"KAFKA_HOST_PORT": "39092"}).resolved()
    kafka = kafka["services"]["kafka"]
    assert any(str(p).startswith("127.0.0.1:39092:") for p in kafka["ports"]), kafka["ports"]
    assert "HOST://127.0.0.1:39092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_commands_name_packages_of_this_repo(resolved: dict) -> None:
    assert command_problems(resolved) == []


def test_python_services_read_only_known_settings(resolved: dict) -> None:
    for name, service in python_services(resolved).items():
        unknown = set(service.get("environment") or {}) - SERVICE_ENV
        assert not unknown, f"{name}: variables no service reads: {sorted(unknown)}"


def test_producer_settings(resolved: dict, raw: dict) -> None:
    env = resolved["services"]["producer"]["environment"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["KAFKA_IDEMPOTENCE"] == "true"
    assert python_module_of(resolved["services"]["producer"]["command"]) == "producer"
    written = raw["services"]["producer"]["environment"]
    for knob in SIM_KNOBS:
        # `${SIM_X:-default}`; an empty default leaves the producer's own (it ignores "").
        assert re.fullmatch(rf"\$\{{{knob}:-[^}}]*\}}", str(written[knob])), written[knob]
    deps = raw["services"]["producer"]["depends_on"]
    assert deps["kafka-init"]["condition"] == "service_completed_successfully"


def settings_classes(package: str) -> list[type[BaseSettings]]:
    """The settings classes that `<package>/settings.py` defines."""
    module = importlib.import_module(f"{package}.settings")
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseSettings)
        and obj is not BaseSettings
        and obj.__module__ == module.__name__
    ]


def test_services_accept_their_compose_settings(
    resolved: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service's own settings class reads its compose environment without error."""
    for name, service in python_services(resolved).items():
        package = python_module_of(service["command"]).split(".")[0]
        if not (ROOT / package / "settings.py").is_file():
            continue
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        classes = settings_classes(package)
        assert classes, f"{package}/settings.py defines no settings class"
        fields = {env_name(cls, f) for cls in classes for f in cls.model_fields}
        assert set(env) <= fields, f"{name}: variables it does not read: {set(env) - fields}"
        with monkeypatch.context() as patch:
            for var in fields:
                patch.delenv(var, raising=False)
            for var, value in env.items():
                patch.setenv(var, value)
            for cls in classes:
                cls()  # raises on a value the service would reject at start-up


def test_sim_knobs_can_be_overridden(cli: str) -> None:
    env = {knob: str(i + 7) for i, knob in enumerate(SIM_KNOBS)}
    producer = compose_config(COMPOSE_FILE, env=env).resolved()["services"]["producer"]
    for knob, value in env.items():
        assert producer["environment"][knob] == value


# --- the checks themselves catch what they are meant to catch ---------------------------


def test_checks_catch_broken_variants(raw: dict, tmp_path: Path) -> None:
    services = raw["services"]
    bad = {
        "services": {
            **services,
            "producer": {
                **services["producer"],
                "build": {"context": ".", "dockerfile": "other/Dockerfile"},
                "command": ["python", "-m", "no_such_package"],
                "ports": ["8000:8000"],
                "depends_on": ["kafka"],
            },
            "sink": {"image": IMAGE, "command": "python -m producer", "depends_on": {}},
        }
    }
    assert any("not the one Dockerfile" in p for p in build_problems(bad))
    assert any("sink: uses image inplay but has no build" in p for p in build_problems(bad))
    assert any("no_such_package" in p for p in command_problems(bad))
    assert any("producer: port" in p for p in port_problems(bad))
    assert any("depends_on is a list" in p for p in dependency_problems(bad))
    unhealthy = {
        "services": {"a": {"depends_on": {"b": {"condition": "service_healthy"}}}, "b": {}}
    }
    assert any("no healthcheck" in p for p in dependency_problems(unhealthy))
