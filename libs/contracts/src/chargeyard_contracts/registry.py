"""The topic registry: every topic, its key, its payload models, who may publish, how long kept.

This is the single source the bus, the runner (topic creation), the deploy files and the
generated JSON Schema / AsyncAPI documents are built from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from . import billing, commands, energy, planning, stations
from .envelope import Envelope


class Retention(StrEnum):
    """Retention classes; the deploy files turn them into retention.ms / cleanup.policy."""

    COMMANDS = "commands"  # 1 day: a command older than that must not be replayed
    EVENTS = "events"  # 7 days: long enough to rebuild a read model after an outage
    STATE = "state"  # compacted: latest value per key (topology, registrations)
    AUDIT = "audit"  # 30 days: dead letters, kept for someone to look at


RETENTION_MS: dict[Retention, int | None] = {
    Retention.COMMANDS: 24 * 3600 * 1000,
    Retention.EVENTS: 7 * 24 * 3600 * 1000,
    Retention.STATE: None,
    Retention.AUDIT: 30 * 24 * 3600 * 1000,
}


@dataclass(frozen=True)
class Topic:
    name: str
    key_field: str
    models: tuple[type[BaseModel], ...]
    retention: Retention
    publishers: frozenset[str]
    partitions: int = 3
    description: str = ""

    def key_of(self, payload: BaseModel) -> str:
        return str(getattr(payload, self.key_field))


@dataclass(frozen=True)
class Registration:
    model: type[BaseModel]
    topic: Topic
    schema_version: int = 1
    upcasters: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=dict)
    """from-version -> function turning a payload of that version into the next one."""

    @property
    def type_name(self) -> str:
        return self.model.__name__


GATEWAY = "ocpp-gateway"
RESERVATIONS = "reservation-api"
SCHEDULER = "scheduler"
ENERGY = "energy-manager"
NOTIFIER = "notifier"
BILLING = "billing"
REPORTING = "reporting"
SERVICES = (GATEWAY, RESERVATIONS, SCHEDULER, ENERGY, NOTIFIER, BILLING, REPORTING)

DEAD_LETTER_TOPIC = "deadletter"


def _topic(
    name: str,
    key: str,
    models: tuple[type[BaseModel], ...],
    retention: Retention,
    publishers: set[str],
    description: str,
) -> Topic:
    return Topic(name, key, models, retention, frozenset(publishers), description=description)


TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        _topic(
            "station.registered",
            "station_id",
            (stations.StationRegistered,),
            Retention.STATE,
            {GATEWAY},
            "A station booted and was accepted, with the capabilities learned at boot.",
        ),
        _topic(
            "station.status",
            "station_id",
            (stations.StationStatusChanged,),
            Retention.EVENTS,
            {GATEWAY},
            "Connector and station status, normalised across OCPP versions.",
        ),
        _topic(
            "meter.values",
            "station_id",
            (stations.MeterValuesReported,),
            Retention.EVENTS,
            {GATEWAY},
            "Meter samples in Wh and W, per phase where the station sends them.",
        ),
        _topic(
            "transaction.events",
            "station_id",
            (stations.TransactionEventReported,),
            Retention.EVENTS,
            {GATEWAY},
            "Transaction started / updated / ended, with string transaction ids.",
        ),
        _topic(
            "station.events",
            "station_id",
            (
                stations.FirmwareStatusChanged,
                stations.LogStatusChanged,
                stations.SecurityEventReported,
                stations.StationEventReported,
                stations.ReservationStatusChanged,
                stations.CompositeScheduleReported,
                stations.ConfigurationReported,
            ),
            Retention.EVENTS,
            {GATEWAY},
            "What stations report besides status and metering: firmware and log uploads, security and "
            "device-model events (with vendor codes), reservation expiry, composite schedules, configuration.",
        ),
        _topic(
            "ev.charging-needs",
            "station_id",
            (stations.EvChargingNeedsReported,),
            Retention.EVENTS,
            {GATEWAY},
            "The car's own departure time and energy need (ISO 15118 via OCPP 2.0.1 K15).",
        ),
        _topic(
            "station.commands",
            "station_id",
            (commands.StationCommandIssued,),
            Retention.COMMANDS,
            {ENERGY, RESERVATIONS},
            "Version-neutral commands for one station.",
        ),
        _topic(
            "station.command-results",
            "station_id",
            (commands.StationCommandCompleted,),
            Retention.EVENTS,
            {GATEWAY},
            "How every station command ended.",
        ),
        _topic(
            "reservation.created",
            "site_id",
            (planning.ReservationCreated,),
            Retention.EVENTS,
            {RESERVATIONS},
            "A reservation was requested.",
        ),
        _topic(
            "reservation.cancelled",
            "site_id",
            (planning.ReservationCancelled,),
            Retention.EVENTS,
            {RESERVATIONS},
            "A reservation was cancelled.",
        ),
        _topic(
            "reservation.updated",
            "site_id",
            (planning.ReservationUpdated,),
            Retention.EVENTS,
            {RESERVATIONS},
            "A reservation changed: status (scheduled, waitlisted, arrived, charging, "
            "completed, no-show ...), terms or plan.",
        ),
        _topic(
            "reservation.decided",
            "site_id",
            (planning.ReservationDecided,),
            Retention.EVENTS,
            {RESERVATIONS},
            "A driver's answer to a conflict (or the default on time-out): the terms that apply.",
        ),
        _topic(
            "reservation.conflict",
            "site_id",
            (planning.ReservationConflict,),
            Retention.EVENTS,
            {SCHEDULER},
            "The plan can no longer keep a reservation's promise: less energy, or no connector.",
        ),
        _topic(
            "schedule.updated",
            "site_id",
            (planning.ScheduleUpdated,),
            Retention.EVENTS,
            {SCHEDULER},
            "A site's new plan: connector, slots and power per reservation.",
        ),
        _topic(
            "topology.updated",
            "site_id",
            (planning.TopologyUpdated,),
            Retention.STATE,
            {ENERGY},
            "A site's electrical topology and limits.",
        ),
        _topic(
            "tokens.updated",
            "version",
            (planning.TokensUpdated,),
            Retention.STATE,
            {RESERVATIONS},
            "RFID idTags for the gateway's Authorize answers and local lists.",
        ),
        _topic(
            "capacity.updated",
            "group_id",
            (planning.CapacityUpdated,),
            Retention.STATE,
            {ENERGY},
            "Capacity limit profile of a group, set by a DSO or trader.",
        ),
        _topic(
            "notification.sent",
            "recipient",
            (planning.NotificationSent,),
            Retention.EVENTS,
            {NOTIFIER},
            "A notification was delivered to a driver or operator.",
        ),
        _topic(
            "energy.prices",
            "site_id",
            (planning.EnergyPricesPublished,),
            Retention.EVENTS,
            {ENERGY},
            "Energy prices and renewable share per interval.",
        ),
        _topic(
            "energy.green",
            "site_id",
            (energy.GreenEnergyPublished,),
            Retention.EVENTS,
            {ENERGY},
            "Green energy per site and interval: on-site PV, grid renewable share, marginal CO2.",
        ),
        _topic(
            "energy.building-load",
            "site_id",
            (energy.BuildingLoadReported,),
            Retention.EVENTS,
            set(),
            "Building meter readings (consumption without the chargers), published by the site's "
            "meter gateway outside Chargeyard; read by the energy manager for dynamic load management.",
        ),
        _topic(
            "capacity.site",
            "site_id",
            (energy.SiteCapacityUpdated,),
            Retention.STATE,
            {ENERGY},
            "The capacity a site's plan may use over time, with non-obeying EVSEs counted.",
        ),
        _topic(
            "capacity.requests",
            "group_id",
            (energy.CapacityProfileRequested,),
            Retention.COMMANDS,
            set(),
            "Capacity or setpoint profiles for a group, published by third parties (DSOs, traders, "
            "local EMS) with their API key; write-only for parties, read by the energy manager.",
        ),
        _topic(
            "capacity.flexibility",
            "group_id",
            (energy.CapacityFlexibilityReported,),
            Retention.EVENTS,
            {ENERGY},
            "Per group and interval: how far the group could go up or down without breaking a promise.",
        ),
        _topic(
            "capacity.allocation",
            "group_id",
            (energy.CapacityAllocationReported,),
            Retention.EVENTS,
            {ENERGY},
            "Per group and interval: what each EVSE was given and what it drew.",
        ),
        _topic(
            "billing.cdr",
            "station_id",
            (billing.ChargeDetailRecorded,),
            Retention.EVENTS,
            {BILLING},
            "A charge detail record was priced, or flagged for its readings; again on each change.",
        ),
        _topic(
            "charging.priority",
            "site_id",
            (energy.PriorityRequested,),
            Retention.EVENTS,
            {ENERGY},
            "A driver asked for priority; the granted level, within the site's rules.",
        ),
    )
}

_REGISTRATIONS: dict[str, Registration] = {
    model.__name__: Registration(model=model, topic=topic) for topic in TOPICS.values() for model in topic.models
}


class UnknownEventType(LookupError):
    pass


def registration_of(model: type[BaseModel]) -> Registration:
    try:
        return _REGISTRATIONS[model.__name__]
    except KeyError as exc:
        raise UnknownEventType(f"{model.__name__} is not registered on any topic") from exc


def registration_for(type_name: str) -> Registration:
    try:
        return _REGISTRATIONS[type_name]
    except KeyError as exc:
        raise UnknownEventType(f"unknown event type {type_name!r}") from exc


def registrations() -> list[Registration]:
    return list(_REGISTRATIONS.values())


def topic_of(model: type[BaseModel]) -> Topic:
    return registration_of(model).topic


def decode(envelope: Envelope) -> BaseModel:
    """Validate an envelope's payload against its registered model, upcasting old versions."""
    reg = registration_for(envelope.type)
    if envelope.schema_version > reg.schema_version:
        raise ValueError(
            f"{envelope.type} schema_version {envelope.schema_version} is newer than this "
            f"service knows ({reg.schema_version})"
        )
    payload = envelope.payload
    for version in range(envelope.schema_version, reg.schema_version):
        payload = reg.upcasters[version](payload)
    return reg.model.model_validate(payload)
