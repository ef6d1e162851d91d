"""Every environment variable docker-compose.yml, the Dockerfile and the Kubernetes manifests set
for a service is one its settings class reads, every required setting is set, and the values parse."""

from __future__ import annotations

import re
from typing import Any

import pytest
import render
from chargeyard_devstack.stack import BACKOFFICE_UPSTREAMS
from chargeyard_platform.settings import Profile
from deploy_helpers import ALL_SERVICES, BY_NAME, EVENT_SERVICES, REAL_PASSWORD, WITH_DATABASE, Service, settings_from
from pydantic import ValidationError

PREFIXES = tuple(s.prefix for s in ALL_SERVICES)


def dockerfile_env(target: str) -> dict[str, str]:
    """ENV lines of one Dockerfile stage (`FROM runtime AS <target>`) and of the shared runtime stage."""
    env: dict[str, str] = {}
    stage = None
    text = render.DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            stage = words[3] if len(words) >= 4 and words[2].upper() == "AS" else None
        elif words[:1] == ["ENV"] and stage in (target, "runtime"):
            for pair in words[1:]:
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def check_names(service: Service, env: dict[str, Any], where: str) -> None:
    known = service.env_names()
    ours = {k for k in env if k.startswith(PREFIXES)}
    unknown = sorted(k for k in ours if k not in known)
    assert not unknown, f"{where}: {service.name}'s settings have no {unknown} (known: {sorted(known)})"
    foreign = sorted(k for k in ours if not k.startswith(service.prefix) and k not in known)
    assert not foreign, f"{where}: {service.name} is given another service's settings {foreign}"
    missing = sorted(service.required_env() - set(env))
    assert not missing, f"{where}: {service.name} needs {missing}"


# --- docker-compose.yml and the Dockerfile ---------------------------------------------------


@pytest.mark.parametrize("service", EVENT_SERVICES, ids=lambda s: s.name)
def test_compose_sets_only_known_settings_and_every_required_one(
    service: Service, compose_file: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = compose_file["services"][service.name]
    env = {**dockerfile_env(container["build"]["target"]), **container["environment"]}
    check_names(service, env, "docker-compose.yml + Dockerfile")
    settings = settings_from(service, {k: str(v) for k, v in env.items()}, monkeypatch)
    assert settings.profile is Profile.PROD
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.kafka_idempotent, "Apache Kafka supports idempotent producers: compose turns them on"
    assert settings.http_host == "0.0.0.0", "a service must listen beyond its container's loopback"


BACKOFFICE = BY_NAME["backoffice"]


def upstream_settings() -> set[str]:
    """The back office's settings that name another service's base URL (BACKOFFICE_<NAME>_URL)."""
    fields = BACKOFFICE.settings.model_fields
    return {f"{BACKOFFICE.prefix}{name.upper()}" for name in fields if name.endswith("_url") and name != "database_url"}


def check_upstreams(env: dict[str, str], ports: dict[str, int], where: str) -> None:
    """Every upstream URL the back office reads is set, to the service of that name on its port."""
    expected = {f"{BACKOFFICE.prefix}{variable}": name for name, variable in BACKOFFICE_UPSTREAMS.items()}
    assert set(expected) == upstream_settings(), "devstack's BACKOFFICE_UPSTREAMS and the settings disagree"
    for variable, name in expected.items():
        assert env.get(variable) == f"http://{name}:{ports[name]}", f"{where}: {variable}={env.get(variable)}"


def test_compose_gives_the_backoffice_its_database_and_every_upstream_by_service_name(
    compose_file: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = compose_file["services"][BACKOFFICE.name]
    env = {k: str(v) for k, v in {**dockerfile_env(container["build"]["target"]), **container["environment"]}.items()}
    check_names(BACKOFFICE, env, "docker-compose.yml + Dockerfile")
    settings = settings_from(BACKOFFICE, env, monkeypatch)
    assert settings.profile == "prod"
    assert settings.http_host == "0.0.0.0"
    assert not settings.database_url.startswith("sqlite"), "replicas share one maintenance log: PostgreSQL"
    ports = {s.name: s.process.http_port for s in EVENT_SERVICES}
    check_upstreams(env, ports, "docker-compose.yml")
    for name in BACKOFFICE_UPSTREAMS:
        assert name in container["depends_on"], f"the back office starts before {name}"
    assert not any(k.startswith("kafka") for k in container["depends_on"]), "the back office uses no broker"


@pytest.mark.parametrize("service", ALL_SERVICES, ids=lambda s: s.name)
def test_dockerfile_stage_sets_only_known_settings(service: Service) -> None:
    env = dockerfile_env(service.name)
    assert env, f"no Dockerfile stage {service.name}"
    check_names(service, {**env, **{k: "x" for k in service.required_env()}}, f"Dockerfile stage {service.name}")


def test_compose_example_env_is_refused_by_the_prod_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    # .env.example ships change-me: a user who forgets to set a password gets a refusal, not a deployment.
    example = render.compose()
    service = BY_NAME["billing"]
    env = {k: str(v) for k, v in example["services"]["billing"]["environment"].items()}
    with pytest.raises(ValidationError, match="placeholder password"):
        settings_from(service, env, monkeypatch)


def test_compose_refuses_to_start_without_the_secrets() -> None:
    env = render.read_env_file(render.COMPOSE_ENV_EXAMPLE)
    for secret in (
        "POSTGRES_PASSWORD",
        "CHARGEYARD_DB_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
        "RESERVATIONS_ADMIN_TOKEN",
        "RESERVATIONS_JWT_SECRET",
    ):
        with pytest.raises(render.MissingVariable, match=secret):
            render.compose({k: v for k, v in env.items() if k != secret})


def test_compose_commits_no_password() -> None:
    raw = render.COMPOSE_FILE.read_text()
    for line in raw.splitlines():
        if re.search(r"PASSWORD|TOKEN|SECRET|DATABASE_URL", line) and ":" in line:
            value = line.split(":", 1)[1]
            if re.search(r"PASSWORD|TOKEN|SECRET", line.split(":", 1)[0]) or "DATABASE_URL" in line:
                assert "${" in value, f"a literal secret in docker-compose.yml: {line.strip()}"


# --- Kubernetes -----------------------------------------------------------------------------


def example_secrets(overlay: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for example in sorted((render.K8S / "overlays" / overlay / "secrets").glob("*.env.example")):
        values.update(render.read_env_file(example))
    return values


def container_env(
    doc: dict[str, Any], container: dict[str, Any], docs: list[dict[str, Any]], secrets: dict[str, str]
) -> dict[str, str]:
    """The environment of one container: envFrom config maps, then env (values from the secret)."""
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    secret_keys = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "Secret"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]])
        else:  # values from the example files (the secret's own data is base64 of those)
            env.update({key: secrets[key] for key in secret_keys[source["secretRef"]["name"]]})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item["valueFrom"]:
            env[item["name"]] = secrets[item["valueFrom"]["secretKeyRef"]["key"]]
        else:
            env[item["name"]] = "from-the-downward-api"
    return env


@pytest.mark.parametrize("overlay", render.OVERLAYS)
@pytest.mark.parametrize("service", EVENT_SERVICES, ids=lambda s: s.name)
def test_manifests_set_only_known_settings_and_every_required_one(
    service: Service, overlay: str, overlays: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = overlays[overlay]
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == service.name)
    secrets = {k: v.replace("change-me", REAL_PASSWORD) for k, v in example_secrets(overlay).items()}
    pod = deployment["spec"]["template"]["spec"]
    for container in pod["containers"] + pod.get("initContainers", []):
        env = container_env(deployment, container, docs, secrets)
        check_names(service, env, f"overlays/{overlay} {service.name}/{container['name']}")
        settings = settings_from(service, env, monkeypatch)
        assert settings.profile is (Profile.PROD if overlay == "prod" else Profile.DEV)
        assert settings.kafka_idempotent
        assert settings.kafka_bootstrap_servers == "chargeyard-kafka-bootstrap:9092"


@pytest.mark.parametrize("overlay", render.OVERLAYS)
def test_the_backoffice_manifest_sets_its_database_and_every_upstream_by_service_name(
    overlay: str, overlays: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = overlays[overlay]
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == BACKOFFICE.name)
    secrets = {k: v.replace("change-me", REAL_PASSWORD) for k, v in example_secrets(overlay).items()}
    ports = {
        d["metadata"]["name"]: p["port"]
        for d in docs
        if d["kind"] == "Service"
        for p in d["spec"]["ports"]
        if p["name"] == "http"
    }
    pod = deployment["spec"]["template"]["spec"]
    for container in pod["containers"] + pod.get("initContainers", []):
        where = f"overlays/{overlay} {BACKOFFICE.name}/{container['name']}"
        env = container_env(deployment, container, docs, secrets)
        check_names(BACKOFFICE, env, where)
        settings = settings_from(BACKOFFICE, env, monkeypatch)
        assert settings.profile == ("prod" if overlay == "prod" else "dev")
        assert settings.database_url.startswith("postgresql+asyncpg://")
        check_upstreams(env, ports, where)


@pytest.mark.parametrize("overlay", render.OVERLAYS)
def test_every_service_has_its_database_url_in_the_example_secret(overlay: str) -> None:
    example = render.read_env_file(render.K8S / "overlays" / overlay / "secrets" / "database.env.example")
    assert set(example) == {s.name for s in WITH_DATABASE}
    for name, url in example.items():
        assert url.startswith("postgresql+asyncpg://") and "change-me" in url, name


def test_the_prod_overlay_with_the_example_secret_is_refused(
    overlays: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = overlays["prod"]
    service = BY_NAME["scheduler"]
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == service.name)
    env = container_env(
        deployment, deployment["spec"]["template"]["spec"]["containers"][0], docs, example_secrets("prod")
    )
    with pytest.raises(ValidationError, match="placeholder password"):
        settings_from(service, env, monkeypatch)
