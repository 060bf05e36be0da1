"""The Tiltfile, evaluated without Tilt: its built-ins are Python stubs that record calls.

The stubs keep Tilt's signatures, so a misspelt argument fails here as it would in Tilt;
a built-in that is not stubbed fails too ("Variable `x` not found"): add a stub for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import starlark as sl
import yaml

from .deployfiles import (
    COMPOSE_FILE,
    ROOT,
    TILTFILE,
    is_dockerignored,
    packages_in_image,
    parse_dockerfile,
    parse_dockerignore,
)

# Tilt takes any URL; these are the ones a browser (or a WebSocket client) can open.
LINK_SCHEMES = {"http", "https", "ws", "wss"}
LABEL = re.compile(r"[A-Za-z0-9]([-_.A-Za-z0-9]{0,61}[A-Za-z0-9])?")


@dataclass
class Tilt:
    """What a Tiltfile asked Tilt to do."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, builtin: str) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == builtin]

    def globals_module(self) -> sl.Module:
        module = sl.Module()
        record = self._record

        def docker_compose(
            configPaths: Any,
            env_file: str | None = None,
            project_name: str = "",
            profiles: Any = (),
            wait: bool = False,
        ) -> None:
            record("docker_compose", locals())

        def docker_build(
            ref: str,
            context: str,
            build_args: Any = None,
            dockerfile: str = "Dockerfile",
            dockerfile_contents: str = "",
            live_update: Any = (),
            match_in_env_vars: bool = False,
            ignore: Any = (),
            only: Any = (),
            entrypoint: Any = (),
            target: str = "",
            ssh: Any = "",
            network: str = "",
            secret: Any = "",
            extra_tag: Any = "",
            container_args: Any = None,
            cache_from: Any = (),
            pull: bool = False,
            platform: str = "",
            extra_hosts: Any = (),
        ) -> None:
            record("docker_build", locals())

        def dc_resource(
            name: str,
            trigger_mode: Any = None,
            resource_deps: Any = (),
            links: Any = (),
            labels: Any = (),
            auto_init: bool = True,
            project_name: str = "",
            new_name: str = "",
            infer_links: bool = True,
        ) -> None:
            record("dc_resource", locals())

        def local_resource(name: str, cmd: Any = "", **kwargs: Any) -> None:
            record("local_resource", {"name": name, "cmd": cmd, **kwargs})

        def sync(local_path: str, remote_path: str) -> dict:
            return {"step": "sync", "local": local_path, "remote": remote_path}

        def run(cmd: Any, trigger: Any = (), echo_off: bool = False) -> dict:
            triggers = [trigger] if isinstance(trigger, str) else list(trigger)
            return {"step": "run", "cmd": cmd, "trigger": triggers}

        def fall_back_on(files: Any) -> dict:
            return {"step": "fall_back_on", "files": [files] if isinstance(files, str) else files}

        def initial_sync() -> dict:
            return {"step": "initial_sync"}

        def restart_container() -> dict:
            return {"step": "restart_container"}

        def link(url: str, name: str | None = None) -> dict:
            return {"url": url, "name": name}

        def watch_file(path: str) -> None:
            record("watch_file", {"path": path})

        def update_settings(**kwargs: Any) -> None:
            record("update_settings", kwargs)

        for fn in (
            docker_compose,
            docker_build,
            dc_resource,
            local_resource,
            sync,
            run,
            fall_back_on,
            initial_sync,
            restart_container,
            link,
            watch_file,
            update_settings,
        ):
            module.add_callable(fn.__name__, fn)
        module["TRIGGER_MODE_AUTO"] = "TRIGGER_MODE_AUTO"
        module["TRIGGER_MODE_MANUAL"] = "TRIGGER_MODE_MANUAL"
        return module

    def _record(self, name: str, args: dict[str, Any]) -> None:
        self.calls.append((name, dict(args)))


def evaluate(text: str, filename: str = "Tiltfile") -> Tilt:
    tilt = Tilt()
    ast = sl.parse(filename, text, sl.Dialect.extended())
    extensions = [sl.LibraryExtension.Print, sl.LibraryExtension.StructType]
    sl.eval(tilt.globals_module(), ast, sl.Globals.extended_by(extensions))
    return tilt


def as_list(value: Any) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str | dict) else list(value)


def workdir_of(dockerfile: Path) -> str:
    workdirs = [i.args for i in parse_dockerfile(dockerfile.read_text()) if i.keyword == "WORKDIR"]
    return workdirs[-1] if workdirs else "/"


# --- checks -------------------------------------------------------------------------------


def tilt_problems(tilt: Tilt, compose: dict, root: Path = ROOT) -> list[str]:
    """Everything about a Tiltfile's calls that would break `tilt up` on this repo."""
    problems: list[str] = []
    services = compose["services"]

    composes = tilt.of("docker_compose")
    if len(composes) != 1:
        problems.append(f"docker_compose called {len(composes)} times, expected once")
    for call in composes:
        for path in as_list(call["configPaths"]):
            if not (root / path).is_file():
                problems.append(f"docker_compose: {path} does not exist")
        if COMPOSE_FILE.name not in [Path(p).name for p in as_list(call["configPaths"])]:
            problems.append("docker_compose does not load docker-compose.yml")

    builds = {b["ref"]: b for b in tilt.of("docker_build")}
    for name, service in services.items():
        if "build" not in service:
            continue
        image = str(service.get("image", "")).split(":")[0]
        build = builds.get(image)
        if build is None:
            problems.append(f"{name}: no docker_build for its image {image!r}")
            continue
        compose_dockerfile = (root / service["build"].get("dockerfile", "Dockerfile")).resolve()
        if (root / build["dockerfile"]).resolve() != compose_dockerfile:
            problems.append(f"{name}: Tilt builds {build['dockerfile']}, compose another file")
    for ref, build in builds.items():
        problems += _build_problems(ref, build, root)

    resources = {r["name"]: r for r in tilt.of("dc_resource")}
    for name in services:
        resource = resources.get(name)
        if resource is None:
            problems.append(f"{name}: no dc_resource")
            continue
        labels = as_list(resource["labels"])
        if not labels:
            problems.append(f"{name}: dc_resource has no labels")
        problems += [f"{name}: bad label {lb!r}" for lb in labels if not LABEL.fullmatch(lb)]
    for name, resource in resources.items():
        if name not in services:
            problems.append(f"dc_resource {name}: no such service in docker-compose.yml")
        known = set(services) | {r["name"] for r in tilt.of("local_resource")}
        for dep in as_list(resource["resource_deps"]):
            if dep not in known:
                problems.append(f"dc_resource {name}: depends on unknown resource {dep}")
        for lnk in as_list(resource["links"]):
            url = urlsplit(str(lnk["url"] if isinstance(lnk, dict) else lnk))
            if url.scheme not in LINK_SCHEMES or not url.hostname:
                problems.append(f"dc_resource {name}: link {url.geturl()!r} is not a URL")
    return problems


def _build_problems(ref: str, build: dict[str, Any], root: Path) -> list[str]:
    problems = []
    context = (root / build["context"]).resolve()
    dockerfile = root / build["dockerfile"]
    if not context.is_dir():
        return [f"docker_build {ref}: context {build['context']} does not exist"]
    if not dockerfile.is_file():
        return [f"docker_build {ref}: dockerfile {build['dockerfile']} does not exist"]
    ignore_file = context / ".dockerignore"
    rules = parse_dockerignore(ignore_file.read_text()) if ignore_file.is_file() else []
    workdir = workdir_of(dockerfile).rstrip("/") + "/"

    steps = as_list(build["live_update"])
    kinds = [s["step"] for s in steps]
    synced: list[Path] = []
    for step in steps:
        if step["step"] == "sync":
            local = (root / step["local"]).resolve()
            if not local.exists():
                problems.append(f"docker_build {ref}: sync source {step['local']} does not exist")
            elif not local.is_relative_to(context):
                problems.append(
                    f"docker_build {ref}: sync source {step['local']} is outside context"
                )
            elif is_dockerignored(local.relative_to(context).as_posix(), rules):
                problems.append(f"docker_build {ref}: sync source {step['local']} is dockerignored")
            if not str(step["remote"]).startswith(workdir):
                problems.append(
                    f"docker_build {ref}: sync target {step['remote']} not in {workdir}"
                )
            synced.append(local)
        elif step["step"] == "run":
            for trigger in step["trigger"]:
                path = (root / trigger).resolve()
                if not path.exists():
                    problems.append(f"docker_build {ref}: run trigger {trigger} does not exist")
                elif not any(path == s or path.is_relative_to(s) for s in synced):
                    problems.append(f"docker_build {ref}: run trigger {trigger} is never synced")
    if "run" in kinds and "sync" in kinds[kinds.index("run") :]:
        problems.append(f"docker_build {ref}: a sync step follows a run step")
    if "restart_container" in kinds and kinds[-1] != "restart_container":
        problems.append(f"docker_build {ref}: restart_container must be the last step")
    if steps:
        synced_names = {s.name for s in synced if s.parent == context}
        missing = packages_in_image(context) - synced_names
        if missing:
            problems.append(f"docker_build {ref}: packages in the image not synced: {missing}")
    return problems


# --- the tests ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def tilt() -> Tilt:
    return evaluate(TILTFILE.read_text())


def test_tiltfile_evaluates_and_matches_the_repo(tilt: Tilt, compose: dict) -> None:
    assert tilt_problems(tilt, compose) == []


def test_docker_compose_loads_the_compose_file(tilt: Tilt) -> None:
    (call,) = tilt.of("docker_compose")
    assert [(ROOT / p).resolve() for p in as_list(call["configPaths"])] == [COMPOSE_FILE]


def test_one_image_built_for_the_compose_services(tilt: Tilt, compose: dict) -> None:
    images = {s["image"] for s in compose["services"].values() if "build" in s}
    assert {b["ref"] for b in tilt.of("docker_build")} == images == {"inplay"}


def test_live_update_syncs_sources_and_reinstalls_on_pyproject(tilt: Tilt) -> None:
    (build,) = tilt.of("docker_build")
    steps = as_list(build["live_update"])
    syncs = {s["local"].removeprefix("./"): s["remote"] for s in steps if s["step"] == "sync"}
    workdir = workdir_of(ROOT / build["dockerfile"])
    for package in packages_in_image():
        assert syncs.get(package) == f"{workdir}/{package}", package
    runs = [s for s in steps if s["step"] == "run"]
    assert any(
        "pip install" in s["cmd"] and "pyproject.toml" in " ".join(s["trigger"]) for s in runs
    )


def test_resources_are_labelled_by_role(tilt: Tilt) -> None:
    labels = {r["name"]: as_list(r["labels"]) for r in tilt.of("dc_resource")}
    for infra in ("kafka", "redis", "timescaledb"):
        assert labels[infra] == ["infra"], infra
    assert labels["producer"] == ["feed"]
    assert labels["storage-migrate"] == labels["storage-sink"] == ["storage"]
    assert labels["rest-api"] == ["api"]
    assert labels["ingest"] == labels["gateway"] == ["realtime"]


def test_links_point_at_the_published_ports(tilt: Tilt, compose: dict) -> None:
    """Each link's port is a default host port that its service publishes."""
    links = {
        r["name"]: [lnk["url"] if isinstance(lnk, dict) else lnk for lnk in as_list(r["links"])]
        for r in tilt.of("dc_resource")
    }
    assert "http://localhost:18000/docs" in links["rest-api"]
    assert "http://localhost:18000/v1/games" in links["rest-api"]
    assert "ws://localhost:18765/ws" in links["gateway"]
    assert "http://localhost:18766/metrics" in links["gateway"]
    for name, urls in links.items():
        published = {
            re.sub(r"\$\{[A-Z_]+:-(\d+)\}", r"\1", str(p)).split(":")[1]
            for p in compose["services"][name].get("ports", [])
        }
        for url in urls:
            assert str(urlsplit(url).port) in published, (name, url, published)


def test_resource_deps_follow_compose_depends_on(tilt: Tilt, compose: dict) -> None:
    """Tilt starts a resource after what compose makes it wait for (same order in both)."""
    for resource in tilt.of("dc_resource"):
        name = resource["name"]
        depends_on = set(compose["services"][name].get("depends_on") or {})
        assert set(as_list(resource["resource_deps"])) == depends_on, name


# --- the checks catch a broken Tiltfile -------------------------------------------------------


def test_checks_catch_a_missing_sync_source(compose: dict) -> None:
    text = TILTFILE.read_text().replace("'./pyproject.toml'", "'./no-such-file.toml'", 1)
    problems = tilt_problems(evaluate(text), compose)
    assert any("no-such-file.toml does not exist" in p for p in problems), problems


def test_checks_catch_a_missing_dockerfile_and_resource(compose: dict) -> None:
    text = TILTFILE.read_text().replace("'./Dockerfile'", "'./docker/Nope.Dockerfile'")
    text = re.sub(r"^dc_resource\('redis'.*$", "", text, flags=re.M)
    problems = tilt_problems(evaluate(text), compose)
    assert any("Nope.Dockerfile does not exist" in p for p in problems), problems
    assert "redis: no dc_resource" in problems


def test_checks_catch_a_wrong_image_name(compose: dict) -> None:
    text = TILTFILE.read_text().replace("'inplay',", "'inplay-app',", 1)
    problems = tilt_problems(evaluate(text), compose)
    assert any("no docker_build for its image 'inplay'" in p for p in problems), problems


def test_checks_catch_a_bad_link(compose: dict) -> None:
    text = TILTFILE.read_text().replace("'ws://localhost:18765/ws'", "'localhost:18765/ws'")
    problems = tilt_problems(evaluate(text), compose)
    assert any("gateway: link 'localhost:18765/ws' is not a URL" in p for p in problems), problems


def test_unknown_builtin_or_argument_fails_evaluation() -> None:
    with pytest.raises(sl.StarlarkError):
        evaluate("k8s_yaml('deploy.yaml')\n")
    with pytest.raises(sl.StarlarkError):
        evaluate("dc_resource('kafka', label=['infra'])\n")
