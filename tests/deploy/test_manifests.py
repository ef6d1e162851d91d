"""What the issue asks of the containers, manifests, Prometheus and Grafana, checked on the files."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import render
import yaml
from deploy_helpers import ALL_SERVICES, BY_NAME, EVENT_SERVICES, WITH_DATABASE, Service, serves_metrics

K8S_SERVICES = {s.name for s in ALL_SERVICES}
SCRAPED = [s for s in ALL_SERVICES if serves_metrics(s)]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("overlay", render.OVERLAYS)
def test_every_service_runs_hardened_with_probes_resources_and_a_budget(
    overlay: str, overlays: dict[str, list[dict[str, Any]]]
) -> None:
    docs = overlays[overlay]
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == K8S_SERVICES
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for d in of_kind(docs, "PodDisruptionBudget").values()
    }
    assert budgets == K8S_SERVICES
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, name
        port = BY_NAME[name].process.http_port
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        main = pod["containers"][0]
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert {p["name"]: p["containerPort"] for p in main["ports"]}["http"] == port
        template_annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if BY_NAME[name] in SCRAPED:
            assert template_annotations["prometheus.io/scrape"] == "true", name
            assert template_annotations["prometheus.io/port"] == str(port), name
        else:  # Prometheus would record a failed scrape of a 404 every interval
            assert "prometheus.io/scrape" not in template_annotations, f"{name} serves no /metrics"


@pytest.mark.parametrize("service", WITH_DATABASE, ids=lambda s: s.name)
def test_migrations_run_in_an_init_container_with_the_services_own_step(
    service: Service, overlays: dict[str, list[dict[str, Any]]]
) -> None:
    from chargeyard_platform.migrate import migrations_of

    deployment = of_kind(overlays["prod"], "Deployment")[service.name]
    init = deployment["spec"]["template"]["spec"]["initContainers"]
    assert [c["command"] for c in init] == [["python", "-m", "chargeyard_platform.migrate", service.process.module]]
    assert init[0]["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    # The same directory the service migrates at start, hence the same advisory lock.
    import importlib

    bootstrap = importlib.import_module(f"{service.process.module}.bootstrap").bootstrap
    settings = service.settings(database_url="sqlite+aiosqlite:///:memory:")  # type: ignore[call-arg]
    built = bootstrap(settings)
    if service.has_broker:
        assert built.spec.migrations == migrations_of(service.process.module)
    else:  # the back office's FastAPI app migrates <package>/migrations in its lifespan
        assert migrations_of(service.process.module).is_dir()


def test_autoscaling_targets_exist_and_the_scheduler_stays_single(overlays: dict[str, list[dict[str, Any]]]) -> None:
    docs = overlays["prod"]
    deployments = of_kind(docs, "Deployment")
    scalers = of_kind(docs, "HorizontalPodAutoscaler")
    for scaler in scalers.values():
        assert scaler["spec"]["scaleTargetRef"]["name"] in deployments
        assert 1 <= scaler["spec"]["minReplicas"] <= scaler["spec"]["maxReplicas"]
    assert "ocpp-gateway" in scalers and "reservation-api" in scalers and "backoffice" in scalers
    assert "scheduler" not in scalers and deployments["scheduler"]["spec"]["replicas"] == 1
    assert deployments["scheduler"]["spec"]["strategy"]["type"] == "Recreate"


def test_the_gateway_is_reachable_for_stations_with_websockets_kept_open(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    docs = overlays["prod"]
    services = of_kind(docs, "Service")
    public = services["ocpp-gateway-public"]
    assert public["spec"]["type"] == "LoadBalancer"
    assert [p["port"] for p in public["spec"]["ports"]] == [9000]
    ocpp = of_kind(docs, "Ingress")["chargeyard-ocpp"]
    assert int(ocpp["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    gateway = of_kind(docs, "Deployment")["ocpp-gateway"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in gateway["containers"][0]["env"]}
    assert env["GATEWAY_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_ingress_backends_exist(overlays: dict[str, list[dict[str, Any]]]) -> None:
    docs = overlays["prod"]
    services = of_kind(docs, "Service")
    for ingress in of_kind(docs, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports, path["path"]


def test_the_backoffice_serves_everything_outside_the_api_and_ocpp(
    overlays: dict[str, list[dict[str, Any]]],
) -> None:
    routes = {
        path["path"]: (ingress["metadata"]["name"], path["backend"]["service"]["name"])
        for ingress in of_kind(overlays["prod"], "Ingress").values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routes["/"] == ("chargeyard-backoffice", "backoffice")
    assert routes["/v1"] == ("chargeyard-api", "reservation-api")
    assert routes["/ocpp"] == ("chargeyard-ocpp", "ocpp-gateway")
    # A maintenance document as large as the back office accepts gets through NGINX.
    ingress = of_kind(overlays["prod"], "Ingress")["chargeyard-backoffice"]
    body = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body.endswith("m")
    largest = BY_NAME["backoffice"].settings.model_fields.get("max_document_bytes")
    if largest is not None:
        assert int(body[:-1]) * 1024 * 1024 > largest.default, f"proxy-body-size {body} < {largest.default} bytes"


def test_no_secret_is_committed() -> None:
    # Committed or about to be: tracked files and untracked ones git does not ignore.
    listed = ["git", "ls-files", "--cached", "--others", "--exclude-standard", "deploy", "docker-compose.yml"]
    tracked = subprocess.run(listed, cwd=render.ROOT, capture_output=True, text=True, check=True).stdout.split()
    for path in tracked:
        if path.endswith((".yaml", ".yml")):
            for doc in yaml.safe_load_all((render.ROOT / path).read_text()):
                assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), f"a Secret in {path}"
    for secret_file in (
        "deploy/k8s/overlays/prod/secrets/database.env",
        "deploy/k8s/overlays/dev/secrets/database.env",
        "deploy/k8s/overlays/prod/secrets/reservation-api.env",
        ".env",
    ):
        ignored = subprocess.run(["git", "check-ignore", "-q", secret_file], cwd=render.ROOT)
        assert ignored.returncode == 0, f"{secret_file} is not ignored by git"


# --- compose, Dockerfile, Prometheus, Grafana -------------------------------------------------


def test_compose_wiring(compose_file: dict[str, Any]) -> None:
    services = compose_file["services"]
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", render.DOCKERFILE.read_text(), re.MULTILINE))
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        if "build" in service:
            assert service["build"]["target"] in stages, name
    for s in ALL_SERVICES:
        assert f"{s.process.http_port}:{s.process.http_port}" in services[s.name]["ports"]
        assert services[s.name]["build"]["target"] == s.name
        healthcheck = re.search(rf"FROM runtime AS {s.name}\n(?:.*\n)*?.*healthz", render.DOCKERFILE.read_text())
        assert healthcheck and f"127.0.0.1:{s.process.http_port}/healthz" in healthcheck.group(0), s.name
    assert services["simulator"]["profiles"] == ["simulator"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    init = services["postgres"]["environment"]["CHARGEYARD_DATABASES"].split()
    assert init == [s.name.replace("-", "_") for s in WITH_DATABASE]
    for s in WITH_DATABASE:
        role = s.name.replace("-", "_")
        assert f"@postgres:5432/chargeyard_{role}" in services[s.name]["environment"][f"{s.prefix}DATABASE_URL"]


def test_prometheus_scrapes_every_service_that_serves_metrics() -> None:
    config = yaml.safe_load((render.ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert {s.name for s in EVENT_SERVICES} <= {s.name for s in SCRAPED}
    for s in ALL_SERVICES:
        if s in SCRAPED:
            assert targets[s.name] == [f"{s.name}:{s.process.http_port}"]
        else:
            assert s.name not in targets, f"{s.name} serves no /metrics"
    assert "kafka-exporter" in targets


DASHBOARDS = sorted((render.ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
EXPORTER_METRICS = {"kafka_consumergroup_lag", "up"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboards_query_only_metrics_the_code_exports(path: Any) -> None:
    dashboard = json.loads(path.read_text())
    source = "\n".join(p.read_text() for p in (render.ROOT / "libs").rglob("*.py")) + "\n".join(
        p.read_text() for p in (render.ROOT / "services").rglob("*.py") if "tests" not in p.parts
    )
    assert dashboard["uid"].startswith("chargeyard-") and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "prometheus"
        for target in panel["targets"]:
            for metric in re.findall(r"\b(chargeyard_[a-z_]+|kafka_[a-z_]+|up)\b", target["expr"]):
                if metric in EXPORTER_METRICS:
                    continue
                base = re.sub(r"_(bucket|count|sum)$", "", metric)
                declared = base.removesuffix("_total")
                assert f'"{declared}' in source, f"{path.name} '{panel['title']}' queries {metric}: not exported"
