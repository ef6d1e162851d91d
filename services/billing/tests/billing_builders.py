"""Builders: a valid event with sensible defaults, changed only where a test cares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chargeyard_contracts import MeterValuesReported, TransactionEventReported
from chargeyard_contracts.stations import SignedMeterValue, TransactionEventKind

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def a_transaction_event(
    kind: TransactionEventKind = TransactionEventKind.STARTED, minute: float = 0, **changes: Any
) -> TransactionEventReported:
    fields: dict[str, Any] = {
        "station_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "transaction_id": "tx-1",
        "kind": kind,
        "id_token": "RFID-1",
        "meter_wh": None,
        "station_timestamp": at(minute),
        "received_at": at(minute),
    }
    return TransactionEventReported(**{**fields, **changes})


def a_meter_value(energy_wh: int | None, minute: float, **changes: Any) -> MeterValuesReported:
    fields: dict[str, Any] = {
        "station_id": "CP-1",
        "evse_id": 1,
        "connector_id": 1,
        "transaction_id": "tx-1",
        "energy_wh": energy_wh,
        "station_timestamp": at(minute),
        "received_at": at(minute),
    }
    return MeterValuesReported(**{**fields, **changes})


def a_signature(data: str = "OCMF|{...}") -> SignedMeterValue:
    return SignedMeterValue(format="OCMF", data=data, public_key="3059...")
