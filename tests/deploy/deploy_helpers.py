"""Helpers for the deploy checks: the services (the seven event-driven ones and the back office), their
settings classes, a settings read from a given environment."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import pytest
from chargeyard_devstack.stack import BACKOFFICE, SERVICES, ServiceProcess
from pydantic_settings import BaseSettings

# Long enough for every secret (the reservation API wants 32 characters of JWT key in prod).
REAL_PASSWORD = "Ex4mple-not-a-placeholder-0123456789"


@dataclass(frozen=True)
class Service:
    process: ServiceProcess

    @property
    def name(self) -> str:
        return self.process.name

    @property
    def prefix(self) -> str:
        return self.process.env_prefix

    @property
    def settings(self) -> type[BaseSettings]:
        settings: type[BaseSettings] = importlib.import_module(f"{self.process.module}.config").Settings
        return settings

    @property
    def has_database(self) -> bool:
        return "database_url" in self.settings.model_fields

    @property
    def has_broker(self) -> bool:
        """Event-driven: Kafka settings, a consumer group, /metrics from the platform's runtime."""
        return "kafka_bootstrap_servers" in self.settings.model_fields

    def env_names(self) -> dict[str, Any]:
        """Every environment variable the settings class reads, with its field."""
        names: dict[str, Any] = {}
        for name, field in self.settings.model_fields.items():
            choices = getattr(field.validation_alias, "choices", None)
            if choices:  # pydantic-settings reads the aliases instead of prefix + name
                names.update({str(choice).upper(): field for choice in choices})
            else:
                names[f"{self.prefix}{name.upper()}"] = field
        return names

    def required_env(self) -> set[str]:
        return {
            f"{self.prefix}{name.upper()}" for name, field in self.settings.model_fields.items() if field.is_required()
        }


ALL_SERVICES = [Service(p) for p in (*SERVICES, BACKOFFICE)]
EVENT_SERVICES = [s for s in ALL_SERVICES if s.has_broker]
WITH_DATABASE = [s for s in ALL_SERVICES if s.has_database]
BY_NAME = {s.name: s for s in ALL_SERVICES}


def settings_from(service: Service, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service's settings as its process would read them from exactly this environment."""
    for name in list(os.environ):
        if name.startswith(service.prefix):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return service.settings()


def serves_metrics(service: Service) -> bool:
    """The event-driven services' runtime serves /metrics; the back office does if one of its routes is /metrics."""
    if service.has_broker:
        return True
    bootstrap = importlib.import_module(f"{service.process.module}.bootstrap").bootstrap
    app = bootstrap(service.settings(database_url="sqlite+aiosqlite:///:memory:"))  # type: ignore[call-arg]
    return any(getattr(route, "path", None) == "/metrics" for route in app.routes)
