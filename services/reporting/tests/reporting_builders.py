"""Builders: a valid event with sensible defaults, changed only where a test cares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chargeyard_contracts import (
    MeterValuesReported,
    StationCapabilities,
    StationRegistered,
    StationStatusChanged,
    TopologyUpdated,
    TransactionEventReported,
)
from chargeyard_contracts.base import OcppVersion
from chargeyard_contracts.planning import StationPlacement
from chargeyard_contracts.stations import ConnectorStatus, TransactionEventKind

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def a_topology(site_id: str, *station_ids: str, minute: float = 0, **changes: Any) -> TopologyUpdated:
    fields: dict[str, Any] = {
        "site_id": site_id,
        "time_zone": "Europe/Berlin",
        "grid_limit_w": 100_000,
        "stations": tuple(StationPlacement(station_id=s, circuit_id=None, max_power_w=22_000) for s in station_ids),
        "updated_at": at(minute),
    }
    return TopologyUpdated(**{**fields, **changes})


def a_registration(station_id: str = "CP-1", **changes: Any) -> StationRegistered:
    fields: dict[str, Any] = {
        "station_id": station_id,
        "vendor": "Acme",
        "model": "Wallbox 22",
        "capabilities": StationCapabilities(ocpp_version=OcppVersion.V201),
        "registered_at": at(0),
    }
    return StationRegistered(**{**fields, **changes})


def a_status(status: ConnectorStatus, minute: float, **changes: Any) -> StationStatusChanged:
    fields: dict[str, Any] = {
        "station_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "status": status,
        "station_timestamp": at(minute),
        "received_at": at(minute),
    }
    return StationStatusChanged(**{**fields, **changes})


def a_meter_value(energy_wh: int | None, minute: float, **changes: Any) -> MeterValuesReported:
    fields: dict[str, Any] = {
        "station_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "transaction_id": None,
        "energy_wh": energy_wh,
        "station_timestamp": at(minute),
        "received_at": at(minute),
    }
    return MeterValuesReported(**{**fields, **changes})


def a_transaction_event(kind: TransactionEventKind, minute: float, **changes: Any) -> TransactionEventReported:
    fields: dict[str, Any] = {
        "station_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "transaction_id": "tx-1",
        "kind": kind,
        "station_timestamp": at(minute),
        "received_at": at(minute),
    }
    return TransactionEventReported(**{**fields, **changes})
