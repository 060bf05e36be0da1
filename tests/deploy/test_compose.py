"""docker-compose.yml, checked without a Docker engine.

Debian's docker-compose 1.29 validates the file against the compose schema and
interpolates it (`config` needs no daemon); the rest are the project's own rules.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from inplay_events.runtime import env_name
from inplay_events.topics import DEAD_LETTER_TOPIC, TOPICS

from .conftest import LISTENERS
from .deployfiles import (
    COMPOSE_FILE,
    ROOT,
    compose_config,
    host_ip_of,
    packages_in_image,
    python_module_of,
)

IMAGE = "inplay"
INFRA = {"kafka", "redis", "timescaledb"}
# Each Python service and the settings class its `python -m` command loads.
SETTINGS = {
    "producer": "producer.settings:Settings",
    "storage-migrate": "storage.settings:StorageSettings",
    "storage-sink": "storage.settings:SinkSettings",
    "rest-api": "rest_api.settings:Settings",
    "ingest": "broadcaster.settings:IngestSettings",
    "gateway": "broadcaster.settings:GatewaySettings",
}
SIM_KNOBS = ["SIM_EVENTS_PER_SEC", "SIM_GAMES", "SIM_SEED", "SIM_SPEEDUP"]
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


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
        else:
            problems += _subcommand_problems(name, service["command"], module, root)
    return problems


def _subcommand_problems(name: str, command: object, module: str, root: Path) -> list[str]:
    """`python -m X sub ...`: X's argument parser accepts `sub` (asked with `sub --help`)."""
    words = command.split() if isinstance(command, str) else [str(w) for w in command]
    args = words[words.index(module) + 1 :]
    if not args:
        return []  # no parser to ask (rest_api has none: --help would start the server)
    proc = subprocess.run(
        [sys.executable, "-m", module, *args, "--help"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return [f"{name}: python -m {module} {' '.join(args)} is refused: {err[0]}"]
    return []


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
    assert set(python_services(raw)) == set(SETTINGS)
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


def settings_class(name: str) -> type[BaseSettings]:
    module, _, cls = SETTINGS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def test_each_service_loads_its_own_settings_class(resolved: dict) -> None:
    """The class named for a service is the one its `python -m` command loads."""
    for name, service in python_services(resolved).items():
        package = python_module_of(service["command"]).split(".")[0]
        module, _, cls = SETTINGS[name].partition(":")
        assert module.split(".")[0] == package, name
        main = (ROOT / package / "__main__.py").read_text()
        assert re.search(rf"load_settings\({cls}\b", main), f"{name}: {package} never loads {cls}"


def test_services_accept_their_compose_settings(
    resolved: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service's settings class reads its compose environment without error."""
    for name, service in python_services(resolved).items():
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        cls = settings_class(name)
        fields = {env_name(cls, f) for f in cls.model_fields}
        assert set(env) <= fields, f"{name}: variables it does not read: {set(env) - fields}"
        with monkeypatch.context() as patch:
            for var in fields:
                patch.delenv(var, raising=False)
            for var, value in env.items():
                patch.setenv(var, value)
            cls()  # raises on a value the service would reject at start-up


def test_kafka_clients_use_the_idempotent_producer(resolved: dict) -> None:
    for name, service in python_services(resolved).items():
        env = service.get("environment") or {}
        if "KAFKA_BOOTSTRAP_SERVERS" in env:
            assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
            assert env["KAFKA_IDEMPOTENCE"] == "true", name


def test_dependencies_of_the_services(raw: dict) -> None:
    done, healthy, started = (
        "service_completed_successfully",
        "service_healthy",
        "service_started",
    )
    expected = {
        "storage-sink": {"storage-migrate": done, "kafka-init": done, "timescaledb": healthy},
        "rest-api": {"storage-migrate": done, "redis": healthy},
        "ingest": {"kafka-init": done, "redis": healthy},
        "gateway": {"redis": healthy, "ingest": started},
    }
    for name, deps in expected.items():
        written = raw["services"][name]["depends_on"]
        assert {d: s["condition"] for d, s in written.items()} == deps, name


def test_long_running_services_restart(resolved: dict) -> None:
    for name in ("storage-sink", "rest-api", "ingest", "gateway"):
        assert resolved["services"][name]["restart"] == "unless-stopped", name


def test_sink_has_time_to_finish_its_batch(resolved: dict) -> None:
    grace = str(resolved["services"]["storage-sink"].get("stop_grace_period", "10s"))
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", grace)
    assert match and grace, grace
    assert int(match[1] or 0) * 60 + int(match[2] or 0) >= 30, grace


def test_sink_instance_id_is_unset_by_default(resolved: dict) -> None:
    # One value shared by replicas would fence all but one of them out of the group.
    assert resolved["services"]["storage-sink"]["environment"]["SINK_INSTANCE_ID"] == ""
    assert settings_class("storage-sink")().sink_instance_id is None


def test_listeners_are_published_and_health_checked(resolved: dict) -> None:
    """A listening service binds all container addresses, on the port it publishes."""
    for name, listeners in LISTENERS.items():
        service = resolved["services"][name]
        env = service["environment"]
        published = {int(str(p).rsplit("/", 1)[0].split(":")[-1]) for p in service.get("ports", [])}
        probe = " ".join(service["healthcheck"]["test"])
        for port_var, host_var, health_path in listeners:
            port = int(env[port_var])
            assert env[host_var] == "0.0.0.0", f"{name}: {host_var} unreachable from outside"
            assert port in published, f"{name}: {port_var}={port} is not published"
            if health_path:
                assert f"127.0.0.1:{port}{health_path}" in probe, (name, probe)
        assert not service["healthcheck"].get("disable"), name


def test_published_host_ports_follow_their_variables(cli: str) -> None:
    env = {"API_HOST_PORT": "28000", "WS_HOST_PORT": "28765", "WS_METRICS_HOST_PORT": "28766"}
    services = compose_config(COMPOSE_FILE, env=env).resolved()["services"]
    ports = [str(p) for n in ("rest-api", "gateway") for p in services[n]["ports"]]
    assert sorted(ports) == [
        "127.0.0.1:28000:18000/tcp",
        "127.0.0.1:28765:18765/tcp",
        "127.0.0.1:28766:18766/tcp",
    ]


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
    wrong_sub = {"services": {"x": {**services["producer"], "command": "python -m storage sync"}}}
    assert any("storage sync is refused" in p for p in command_problems(wrong_sub))
    assert any("producer: port" in p for p in port_problems(bad))
    assert any("depends_on is a list" in p for p in dependency_problems(bad))
    unhealthy = {
        "services": {"a": {"depends_on": {"b": {"condition": "service_healthy"}}}, "b": {}}
    }
    assert any("no healthcheck" in p for p in dependency_problems(unhealthy))
