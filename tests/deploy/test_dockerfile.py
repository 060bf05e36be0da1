"""The Dockerfile and .dockerignore, read as text (no Docker engine to build with)."""

from __future__ import annotations

import tomllib

from .deployfiles import (
    DOCKERFILE,
    DOCKERIGNORE,
    ROOT,
    Instruction,
    copy_sources,
    is_dockerignored,
    packages_in_image,
    parse_dockerfile,
    parse_dockerignore,
)


def dockerfile_problems(instructions: list[Instruction], ignore_text: str) -> list[str]:
    problems = []
    keywords = [i.keyword for i in instructions]
    froms = [i.args for i in instructions if i.keyword == "FROM"]
    if not froms or not froms[-1].startswith("python:3.11-slim"):
        problems.append(f"final stage is not FROM python:3.11-slim: {froms}")
    users = [i.args.split(":")[0] for i in instructions if i.keyword == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("the image runs as root (no final non-root USER)")
    pip_runs = [i.args for i in instructions if i.keyword == "RUN" and "pip install" in i.args]
    if not any("pip install" in r and " ." in r for r in pip_runs):
        problems.append("no `pip install .` of the project")
    if any("[dev]" in r or "pip install -e" in r for r in pip_runs):
        problems.append("dev dependencies or an editable install in the image")

    # Dependencies are installed from pyproject.toml alone, before the sources are copied,
    # so a source edit does not reinstall them.
    copies = [n for n, i in enumerate(instructions) if i.keyword in ("COPY", "ADD")]
    whole = [n for n in copies if "." in copy_sources(instructions[n])]
    if not whole:
        problems.append("the project sources are never copied in")
    else:
        first_pip = next(
            (
                n
                for n, i in enumerate(instructions)
                if i.keyword == "RUN" and "pip install" in i.args
            ),
            None,
        )
        if first_pip is None or first_pip > whole[0]:
            problems.append("dependencies are not installed before the sources are copied")

    rules = parse_dockerignore(ignore_text)
    for n in copies:
        for src in copy_sources(instructions[n]):
            if src == ".":
                continue
            if not (ROOT / src).exists():
                problems.append(f"COPY {src}: no such file")
            elif is_dockerignored(src, rules):
                problems.append(f"COPY {src}: excluded by .dockerignore")
    if "CMD" not in keywords and "ENTRYPOINT" not in keywords:
        problems.append("no CMD or ENTRYPOINT")
    return problems


def test_dockerfile_follows_the_rules() -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text())
    assert dockerfile_problems(instructions, DOCKERIGNORE.read_text()) == []


def test_dockerfile_checks_catch_a_root_dev_image() -> None:
    text = (
        "FROM python:3.12\nWORKDIR /app\nCOPY . .\nRUN pip install -e .[dev]\nCOPY missing.txt ./\n"
    )
    problems = dockerfile_problems(parse_dockerfile(text), DOCKERIGNORE.read_text())
    assert any("python:3.11-slim" in p for p in problems)
    assert any("root" in p for p in problems)
    assert any("dev dependencies" in p for p in problems)
    assert any("before the sources" in p for p in problems)
    assert any("missing.txt" in p for p in problems)


def test_build_context_holds_exactly_what_the_image_needs() -> None:
    rules = parse_dockerignore(DOCKERIGNORE.read_text())
    assert not is_dockerignored("pyproject.toml", rules)
    for kept_out in (".git/config", ".venv/bin/python", "tests/conftest.py", ".local/x"):
        assert is_dockerignored(kept_out, rules), kept_out
    assert is_dockerignored("producer/__pycache__/x.cpython-311.pyc", rules)
    # Every service package named in pyproject's package list and present here is shipped.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    services = {"inplay_events", "producer", "broadcaster", "rest_api", "storage"}
    assert services <= listed
    present = {p for p in services if (ROOT / p / "__init__.py").is_file()}
    assert present <= packages_in_image()


def test_runtime_data_files_of_the_packages_are_in_the_context() -> None:
    """Non-Python files the services read at run time (they run from /app, see Dockerfile)."""
    rules = parse_dockerignore(DOCKERIGNORE.read_text())
    needed = [
        *sorted((ROOT / "storage" / "migrations").glob("*.sql")),
        *sorted((ROOT / "broadcaster" / "static").glob("*.js")),
    ]
    assert len(needed) >= 2, needed
    for path in needed:
        assert not is_dockerignored(path.relative_to(ROOT).as_posix(), rules), path
    # Nothing inside a shipped package is dropped except Python caches.
    for package in packages_in_image():
        for path in (ROOT / package).rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and "__pycache__" not in relative and path.suffix != ".pyc":
                assert not is_dockerignored(relative, rules), relative
