"""Readers for the deployment files, shared by the static deploy tests (no Docker engine).

Each reader is a plain function of file contents, so the tests can feed it broken
variants and prove that the checks catch them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
TILTFILE = ROOT / "Tiltfile"

BOOTSTRAP_HINT = (
    "Debian's docker-compose (1.29) is not installed, so docker-compose.yml cannot be "
    "checked. Run the project's bootstrap (stack/bootstrap.sh), which installs it "
    "(apt-get install docker-compose)."
)


# --- docker-compose ---------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeConfig:
    """What `docker-compose config` said about a compose file."""

    returncode: int
    stdout: str
    stderr: str

    def resolved(self) -> dict:
        """The interpolated, normalised file that `config` printed."""
        assert self.returncode == 0, self.stderr
        return yaml.safe_load(self.stdout)


def docker_compose_cli() -> str | None:
    return shutil.which("docker-compose")


def compose_config(
    compose_file: Path, env: dict[str, str] | None = None, project_dir: Path = ROOT
) -> ComposeConfig:
    """Run `docker-compose -f FILE config`; it needs no Docker daemon."""
    cli = docker_compose_cli()
    assert cli, BOOTSTRAP_HINT
    base_env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    proc = subprocess.run(
        [cli, "--project-directory", str(project_dir), "-f", str(compose_file), "config"],
        cwd=project_dir,
        env={**base_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return ComposeConfig(proc.returncode, proc.stdout, proc.stderr)


def python_module_of(command: object) -> str | None:
    """The X of a `python -m X ...` command (list or string form), else None."""
    if command is None:
        return None
    words = command.split() if isinstance(command, str) else [str(w) for w in command]
    for i, word in enumerate(words[:-1]):
        if word == "-m" and i > 0 and Path(words[i - 1]).name.startswith("python"):
            return words[i + 1]
    return None


def host_ip_of(port: object) -> str | None:
    """The host address a `ports:` entry binds to (None when it binds all addresses)."""
    if isinstance(port, dict):
        return port.get("host_ip")
    text = str(port)
    # Short syntax: [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO] or a bare CONTAINER_PORT.
    parts = text.rsplit("/", 1)[0].split(":")
    if len(parts) == 3:
        return parts[0]
    return None


# --- Dockerfile and .dockerignore --------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order, with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line:
            keyword, _, args = line.partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def copy_sources(instruction: Instruction) -> list[str]:
    """The context paths a COPY/ADD takes (not --from=stage copies)."""
    words = instruction.args.split()
    if any(w.startswith("--from") for w in words):
        return []
    paths = [w for w in words if not w.startswith("--")]
    return paths[:-1]


def parse_dockerignore(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per pattern, in file order."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = pattern.strip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        rules.append((negated, re.compile(_glob_to_regex(pattern))))
    return rules


def _glob_to_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            out.append(pattern[i : end + 1] if end > i else re.escape(pattern[i]))
            i = end + 1 if end > i else i + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out) + r"\Z"


def is_dockerignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = Path(path).as_posix().strip("/").removeprefix("./").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, regex in rules:
        if any(regex.match(p) for p in prefixes):
            ignored = not negated
    return ignored


def packages_in_image(root: Path = ROOT) -> set[str]:
    """Top-level Python packages of the repo that the build context lets into the image."""
    rules = parse_dockerignore((root / ".dockerignore").read_text())
    return {
        p.parent.name
        for p in root.glob("*/__init__.py")
        if not is_dockerignored(p.relative_to(root).as_posix(), rules)
    }
