"""What the deploy files become, computed offline: the compose file as `docker compose` would
interpolate it, and each Kubernetes overlay as `kubectl kustomize` builds it.

Shared by deploy/tools/validate.py (`make validate-deploy`) and tests/deploy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
BIN = Path(sys.executable).parent

# Compose interpolation (compose-spec "Interpolation"): $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d},
# ${VAR:?err}, ${VAR?err}, ${VAR:+alt}, ${VAR+alt}.
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|"
    r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


class MissingVariable(ValueError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["plain"] or m["name"]
        op, arg = m["op"], m["arg"] or ""
        present = name in env
        empty = not env.get(name)
        if op in (":-", "-"):
            return arg if (empty if op == ":-" else not present) else env[name]
        if op in (":?", "?"):
            if empty if op == ":?" else not present:
                raise MissingVariable(f"{name}: {arg}")
            return env[name]
        if op in (":+", "+"):
            return arg if (not empty if op == ":+" else present) else ""
        return env.get(name, "")

    return _VARIABLE.sub(substitute, value)


def compose_raw() -> dict[str, Any]:
    """The file as written (YAML merge keys resolved), before interpolation."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file as compose sees it with the documented .env (.env.example by default)."""
    return interpolate(compose_raw(), read_env_file(COMPOSE_ENV_EXAMPLE) if env is None else env)


def kustomize(overlay: str) -> list[dict[str, Any]]:
    """`kubectl kustomize` of one overlay. The secret env files are gitignored, so a copy of the
    tree gets them from the committed *.env.example files, as a user's first run would."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "k8s"
        shutil.copytree(K8S, tree)
        for example in tree.glob("overlays/*/secrets/*.env.example"):
            real = example.with_suffix("")
            if not real.exists():
                shutil.copyfile(example, real)
        built = subprocess.run(
            [str(BIN / "kubectl"), "kustomize", str(tree / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if built.returncode != 0:
            raise RuntimeError(f"kubectl kustomize overlays/{overlay} failed:\n{built.stderr}")
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]
