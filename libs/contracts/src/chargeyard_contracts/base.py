"""Shared building blocks of every contract: frozen models, identifiers and units.

Units are fixed once for the whole platform:
- power in W (int), energy in Wh (int), current in A per phase (float, OCPP allows one decimal);
- times are timezone-aware and travel in UTC; a site's IANA time zone travels beside them where
  local rules apply (tariffs, days of 92 or 100 quarter-hours at daylight-saving changes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


class Contract(BaseModel):
    """Base of every event and command: immutable, and unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""Any offset is accepted on the way in; the value is normalised to UTC."""

# Identifiers. A station id is the last path segment of ws://HOST:9000/ocpp/{station_id};
# OCPP 1.6 limits chargeBoxIdentity to CiString20... in practice 48 chars are used by vendors.
StationId = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._:-]+$")]
EvseId = Annotated[int, Field(ge=1)]
"""OCPP 2.0.1 EVSE id; for OCPP 1.6 stations the gateway maps connector n to EVSE n."""
ConnectorId = Annotated[int, Field(ge=0)]
"""Connector id; 0 addresses the whole station (OCPP 1.6 §3.5 / OCPP 2.0.1 evseId 0)."""
TransactionId = Annotated[str, Field(min_length=1, max_length=36)]
"""One string transaction id everywhere; the gateway maps it to OCPP 1.6's integer ids."""
SiteId = Annotated[str, Field(min_length=1, max_length=64)]
ReservationId = Annotated[str, Field(min_length=1, max_length=64)]
IdToken = Annotated[str, Field(min_length=1, max_length=36)]
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64, examples=["Europe/Berlin"])]

Watts = Annotated[int, Field(ge=0, description="Power in W")]
WattHours = Annotated[int, Field(ge=0, description="Energy in Wh")]
Amperes = Annotated[float, Field(ge=0, description="Current in A per phase")]
PhaseCount = Annotated[int, Field(ge=1, le=3)]


class ChargingRateUnit(StrEnum):
    WATTS = "W"
    AMPERES = "A"


class PhaseRotation(StrEnum):
    """How a station's L1/L2/L3 are wired to the grid's phases (OCPP 2.0.1 PhaseRotation)."""

    RST = "RST"
    RTS = "RTS"
    SRT = "SRT"
    STR = "STR"
    TRS = "TRS"
    TSR = "TSR"
    UNKNOWN = "Unknown"


class Phase(StrEnum):
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"


class OcppVersion(StrEnum):
    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"
    V21 = "ocpp2.1"
