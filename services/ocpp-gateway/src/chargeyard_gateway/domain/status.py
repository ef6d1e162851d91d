"""Connector status of both OCPP versions onto the contract's one enum."""

from __future__ import annotations

from chargeyard_contracts.stations import ConnectorStatus


def connector_status(raw: str) -> ConnectorStatus:
    """1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType share their spellings with the
    contract's union, so this is a lookup; an unknown value is a station bug and raises."""
    return ConnectorStatus(raw)


def error_code(raw: str | None) -> str | None:
    """1.6 reports "NoError" on every healthy status; the contract keeps None for that."""
    return None if raw in (None, "", "NoError") else raw
