"""OCPP 1.6J adapter: translates between the station model and OCPP 1.6 messages."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ocpp.v16 import ChargePoint as _ChargePoint16
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from .clock import format_ocpp_time, parse_ocpp_time
from .model import (
    BootReason,
    BootResult,
    ChargingState,
    EvseStatus,
    MeterSample,
    Outcome,
    StopReason,
    Transaction,
    UpdateTrigger,
    readings,
)
from .ocpp_base import OrderedResponses, on
from .profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    RecurrencyKind,
    SchedulePeriod,
)

if TYPE_CHECKING:
    from .station import Station

LOG = logging.getLogger("chargeyard_simulator.v16")

_RATE_UNIT_NAMES = {"A": "Current", "W": "Power"}

# OCPP 1.6 StopTransaction.reason values for the station's stop reasons.
_STOP_REASONS = {
    StopReason.EV_DISCONNECTED: "EVDisconnected",
    StopReason.REMOTE: "Remote",
    StopReason.LOCAL: "Local",
    StopReason.UNLOCK_COMMAND: "UnlockCommand",
    StopReason.DEAUTHORIZED: "DeAuthorized",
    StopReason.HARD_RESET: "HardReset",
    StopReason.SOFT_RESET: "SoftReset",
    StopReason.IMMEDIATE_RESET: "HardReset",
    StopReason.REBOOT: "Reboot",
    StopReason.OTHER: "Other",
}


def profile_from_ocpp16(data: dict[str, Any], station: Station) -> ChargingProfile:
    """csChargingProfiles (already snake_case) -> ChargingProfile. Limits may arrive as Decimal
    (the ocpp library parses 1.6 SetChargingProfile with Decimal), hence the float() calls.
    Raises ValueError/KeyError on content the schema does not catch."""
    schedule = data["charging_schedule"]
    tx_id: str | None = None
    if data.get("transaction_id") is not None:
        tx = station.find_transaction_ocpp16(int(data["transaction_id"]))
        if tx is None:
            raise LookupError(f"unknown transactionId {data['transaction_id']}")
        tx_id = tx.id
    recurrency = data.get("recurrency_kind")
    return ChargingProfile(
        id=int(data["charging_profile_id"]),
        stack_level=int(data["stack_level"]),
        purpose=ProfilePurpose.from_ocpp(data["charging_profile_purpose"]),
        kind=ProfileKind(data["charging_profile_kind"]),
        rate_unit=RateUnit(schedule["charging_rate_unit"]),
        periods=tuple(
            SchedulePeriod(
                start_period_s=int(p["start_period"]),
                limit=float(p["limit"]),
                number_phases=int(p["number_phases"]) if p.get("number_phases") is not None else None,
            )
            for p in schedule["charging_schedule_period"]
        ),
        start_schedule=parse_ocpp_time(schedule["start_schedule"]) if schedule.get("start_schedule") else None,
        duration_s=int(schedule["duration"]) if schedule.get("duration") is not None else None,
        recurrency=RecurrencyKind(recurrency) if recurrency else None,
        valid_from=parse_ocpp_time(data["valid_from"]) if data.get("valid_from") else None,
        valid_to=parse_ocpp_time(data["valid_to"]) if data.get("valid_to") else None,
        transaction_id=tx_id,
        min_charging_rate=float(schedule["min_charging_rate"])
        if schedule.get("min_charging_rate") is not None
        else None,
    )


def meter_value(sample: MeterSample) -> dict[str, Any]:
    """MeterValue with 1.6 SampledValues (values are strings in 1.6)."""
    return {
        "timestamp": format_ocpp_time(sample.timestamp),
        "sampled_value": [
            {
                "value": f"{r.value:.15g}" if isinstance(r.value, float) else str(r.value),
                "context": sample.context.value,
                "format": "Raw",
                "measurand": r.measurand,
                **({"phase": r.phase} if r.phase else {}),
                "location": r.location,
                "unit": r.unit,
            }
            for r in readings(sample)
        ],
    }


class V16ChargePoint(OrderedResponses, _ChargePoint16):  # type: ignore[misc]  # ocpp is untyped
    subprotocol: ClassVar[str] = "ocpp1.6"
    reports_charging_state: ClassVar[bool] = False

    def __init__(self, station: Station, connection: Any) -> None:
        super().__init__(station.id, connection, response_timeout=station.config.response_timeout_s)
        self.station = station

    @classmethod
    def connector_status(cls, status: EvseStatus) -> str:
        return status.value

    # ------------------------------------------------------------------ outgoing

    async def send_boot(self, reason: BootReason) -> BootResult:
        cfg = self.station.config
        res = await self.call(
            call.BootNotification(
                charge_point_model=cfg.model,
                charge_point_vendor=cfg.vendor,
                charge_point_serial_number=cfg.serial_number or cfg.station_id,
                firmware_version=cfg.firmware_version,
            ),
            suppress=False,
        )
        return BootResult(status=str(res.status), interval=int(res.interval), current_time=res.current_time)

    async def send_heartbeat(self) -> None:
        await self.call(call.Heartbeat(), suppress=False)

    async def send_status(self, evse_id: int, status: EvseStatus, timestamp: datetime) -> None:
        await self.call(
            call.StatusNotification(
                connector_id=evse_id,
                error_code="NoError",
                status=status.value,
                timestamp=format_ocpp_time(timestamp),
            ),
            suppress=False,
        )

    async def send_tx_started(self, tx: Transaction, sample: MeterSample, state: ChargingState, offline: bool) -> None:
        res = await self.call(
            call.StartTransaction(
                connector_id=tx.evse_id,
                id_tag=tx.id_tag,
                meter_start=round(sample.energy_wh),
                timestamp=format_ocpp_time(sample.timestamp),
                reservation_id=tx.reservation_id,
            ),
            suppress=False,
        )
        tx.ocpp16_id = int(res.transaction_id)
        LOG.info("[%s] EVSE %d: central system assigned transactionId %s", self.station.id, tx.evse_id, tx.ocpp16_id)
        status = (res.id_tag_info or {}).get("status", "Accepted")
        if status != "Accepted":
            self.station.on_transaction_rejected(tx, status)

    async def send_tx_updated(
        self,
        tx: Transaction,
        sample: MeterSample,
        trigger: UpdateTrigger,
        state: ChargingState,
        offline: bool,
    ) -> None:
        if trigger is UpdateTrigger.CHARGING_STATE_CHANGED:
            return  # 1.6 reports charging state changes with StatusNotification only
        await self.send_meter_values(tx.evse_id, sample, tx)

    async def send_tx_ended(self, tx: Transaction, sample: MeterSample, reason: StopReason, offline: bool) -> None:
        if tx.ocpp16_id is None:
            LOG.error(
                "[%s] EVSE %d: cannot send StopTransaction, StartTransaction never got a transactionId",
                self.station.id,
                tx.evse_id,
            )
            return
        await self.call(
            call.StopTransaction(
                meter_stop=round(sample.energy_wh),
                timestamp=format_ocpp_time(sample.timestamp),
                transaction_id=tx.ocpp16_id,
                reason=_STOP_REASONS[reason],
                id_tag=tx.id_tag,
                transaction_data=[meter_value(sample)],
            ),
            suppress=False,
        )

    async def send_meter_values(self, evse_id: int, sample: MeterSample, tx: Transaction | None) -> None:
        transaction_id = tx.ocpp16_id if tx is not None else None
        if tx is not None and transaction_id is None:
            LOG.warning(
                "[%s] EVSE %d: sending MeterValues without transactionId (none assigned)", self.station.id, evse_id
            )
        await self.call(
            call.MeterValues(connector_id=evse_id, meter_value=[meter_value(sample)], transaction_id=transaction_id),
            suppress=False,
        )

    # ------------------------------------------------------------------ smart charging

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        try:
            profile = profile_from_ocpp16(cs_charging_profiles, self.station)
        except (ValueError, KeyError, LookupError) as exc:
            LOG.warning("[%s] SetChargingProfile rejected, cannot use profile: %r", self.station.id, exc)
            return call_result.SetChargingProfile(status="Rejected")
        decision = self.station.set_charging_profile(connector_id, profile)
        return call_result.SetChargingProfile(status="Accepted" if decision.accepted else "Rejected")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        removed = self.station.clear_charging_profiles(
            profile_id=id,
            evse_id=connector_id,
            purpose=ProfilePurpose.from_ocpp(charging_profile_purpose) if charging_profile_purpose else None,
            stack_level=stack_level,
        )
        # 1.6 §5.5: Unknown when no profile matched.
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        result = self.station.composite(
            connector_id, duration, RateUnit(charging_rate_unit) if charging_rate_unit else None
        )
        if result is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        start = format_ocpp_time(result.start)
        periods = []
        for p in result.periods:
            period: dict[str, Any] = {"start_period": p.start_period_s, "limit": round(p.limit, 1)}
            if p.number_phases is not None:
                period["number_phases"] = p.number_phases
            periods.append(period)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=start,
            charging_schedule={
                "duration": result.duration_s,
                "start_schedule": start,
                "charging_rate_unit": result.unit.value,
                "charging_schedule_period": periods,
            },
        )

    # ------------------------------------------------------------------ transactions

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict[str, Any] | None = None, **_: Any
    ) -> call_result.RemoteStartTransaction:
        profile = None
        if charging_profile is not None:
            try:
                profile = profile_from_ocpp16(charging_profile, self.station)
            except (ValueError, KeyError, LookupError) as exc:
                LOG.warning("[%s] RemoteStartTransaction rejected, bad charging profile: %r", self.station.id, exc)
                return call_result.RemoteStartTransaction(status="Rejected")
        decision = self.station.remote_start(connector_id, id_tag, id_token_type="Central", profile=profile)
        if not decision.accepted:
            LOG.warning("[%s] RemoteStartTransaction rejected: %s", self.station.id, decision.reason)
        return call_result.RemoteStartTransaction(status="Accepted" if decision.accepted else "Rejected")

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> call_result.RemoteStopTransaction:
        tx = self.station.find_transaction_ocpp16(transaction_id)
        ok = tx is not None and self.station.remote_stop(tx.id)
        if not ok:
            LOG.warning("[%s] RemoteStopTransaction for unknown transaction %s", self.station.id, transaction_id)
        return call_result.RemoteStopTransaction(status="Accepted" if ok else "Rejected")

    # ------------------------------------------------------------------ station management

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        reason = StopReason.HARD_RESET if type == "Hard" else StopReason.SOFT_RESET
        self.station.reset(reason=reason)
        return call_result.Reset(status="Accepted")

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> call_result.ChangeAvailability:
        outcome = self.station.change_availability(connector_id, operative=type == "Operative")
        return call_result.ChangeAvailability(status=outcome.value)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        outcome = self.station.unlock(connector_id, stop_transaction=True)
        status = {Outcome.UNLOCKED: "Unlocked", Outcome.UNKNOWN: "NotSupported"}.get(outcome, "UnlockFailed")
        return call_result.UnlockConnector(status=status)

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        if connector_id is not None and connector_id != 0 and connector_id not in self.station.evses:
            return call_result.TriggerMessage(status="Rejected")
        if requested_message == "BootNotification":
            self.station.trigger_boot()
        elif requested_message == "Heartbeat":
            self.station.trigger_heartbeat()
        elif requested_message == "StatusNotification":
            self.station.trigger_status(connector_id)
        elif requested_message == "MeterValues":
            self.station.trigger_meter_values(connector_id)
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    # ------------------------------------------------------------------ configuration

    def _configuration(self) -> dict[str, tuple[str, bool]]:
        """key -> (value, readonly). Smart-charging keys per 1.6 §9.4."""
        st = self.station
        cfg = st.config
        connectors = range(0, len(st.evses) + 1)
        keys: dict[str, tuple[str, bool]] = {
            "ChargingScheduleAllowedChargingRateUnit": (
                ",".join(_RATE_UNIT_NAMES[u] for u in cfg.allowed_rate_units),
                True,
            ),
            "ChargingScheduleMaxPeriods": (str(cfg.max_schedule_periods), True),
            "ChargeProfileMaxStackLevel": (str(cfg.max_stack_level), True),
            "MaxChargingProfilesInstalled": (str(max(8, (cfg.max_stack_level + 1) * 3)), True),
            "ConnectorPhaseRotation": (",".join(f"{c}.{st.settings.phase_rotation}" for c in connectors), False),
            "ConnectorPhaseRotationMaxLength": (str(len(st.evses) + 1), True),
            "MeterValueSampleInterval": (f"{st.settings.meter_interval_s:g}", False),
            "MeterValuesSampledData": (
                st.settings.extra.get(
                    "MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC"
                ),
                False,
            ),
            "StopTxnSampledData": (st.settings.extra.get("StopTxnSampledData", "Energy.Active.Import.Register"), False),
            "ClockAlignedDataInterval": (f"{st.settings.aligned_interval_s:g}", False),
            "HeartbeatInterval": (str(st.settings.heartbeat_interval_s), False),
            "ConnectionTimeOut": (str(st.settings.connection_timeout_s), False),
            "NumberOfConnectors": (str(len(st.evses)), True),
            "SupportedFeatureProfiles": ("Core,SmartCharging,RemoteTrigger,Reservation,LocalAuthListManagement", True),
            "StopTransactionOnEVSideDisconnect": ("true", True),
            "StopTransactionOnInvalidId": ("true", True),
            "AuthorizeRemoteTxRequests": ("false", True),
            "LocalAuthListEnabled": (st.settings.extra.get("LocalAuthListEnabled", "true"), False),
            "LocalAuthListMaxLength": ("1000", True),
            "SendLocalListMaxLength": ("100", True),
            "ReserveConnectorZeroSupported": ("false", True),
            "TransactionMessageAttempts": ("3", True),
        }
        return keys

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> call_result.GetConfiguration:
        known = self._configuration()
        wanted = key if key else list(known)
        found = [{"key": k, "readonly": known[k][1], "value": known[k][0]} for k in wanted if k in known]
        unknown = [k for k in wanted if k not in known]
        return call_result.GetConfiguration(configuration_key=found, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> call_result.ChangeConfiguration:
        known = self._configuration()
        if key not in known:
            return call_result.ChangeConfiguration(status="NotSupported")
        if known[key][1]:
            return call_result.ChangeConfiguration(status="Rejected")
        st = self.station
        try:
            if key == "MeterValueSampleInterval":
                st.set_meter_interval(_non_negative_int(value))
            elif key == "ClockAlignedDataInterval":
                st.set_aligned_interval(_non_negative_int(value))
            elif key == "HeartbeatInterval":
                st.set_heartbeat_interval(_non_negative_int(value) or 1)
            elif key == "ConnectionTimeOut":
                st.settings.connection_timeout_s = _non_negative_int(value)
            elif key == "ConnectorPhaseRotation":
                # Stored as one rotation for all connectors ("0.RST,1.RST" -> "RST").
                st.settings.phase_rotation = value.split(",")[0].split(".")[-1].strip() or "Unknown"
            else:
                st.settings.extra[key] = value
        except ValueError as exc:
            LOG.warning("[%s] ChangeConfiguration %s=%r rejected: %s", st.id, key, value, exc)
            return call_result.ChangeConfiguration(status="Rejected")
        LOG.info("[%s] configuration %s = %s", st.id, key, value)
        return call_result.ChangeConfiguration(status="Accepted")

    # ------------------------------------------------------------------ reservations & local list

    @on(Action.reserve_now)
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> call_result.ReserveNow:
        outcome = self.station.reserve(reservation_id, connector_id, id_tag, parse_ocpp_time(expiry_date))
        status = outcome.value if outcome in (Outcome.ACCEPTED, Outcome.OCCUPIED, Outcome.UNAVAILABLE) else "Rejected"
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        ok = self.station.cancel_reservation(reservation_id)
        return call_result.CancelReservation(status="Accepted" if ok else "Rejected")

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        st = self.station
        entries = local_authorization_list or []
        if update_type == "Full":
            st.local_list = {e["id_tag"]: e.get("id_tag_info", {}) for e in entries}
        else:
            # 1.6 §5.15: a differential update must carry a newer version.
            if list_version <= st.local_list_version:
                return call_result.SendLocalList(status="VersionMismatch")
            for entry in entries:
                if entry.get("id_tag_info") is None:
                    st.local_list.pop(entry["id_tag"], None)
                else:
                    st.local_list[entry["id_tag"]] = entry["id_tag_info"]
        st.local_list_version = list_version
        LOG.info("[%s] local list v%d (%s, %d entries)", st.id, list_version, update_type, len(st.local_list))
        return call_result.SendLocalList(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.station.local_list_version)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        return call_result.ClearCache(status="Accepted")

    # ------------------------------------------------------------------ firmware and diagnostics

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> call_result.UpdateFirmware:
        # 1.6 §6.52: no status in the answer; progress follows as FirmwareStatusNotification.
        LOG.info("[%s] firmware from %s at %s", self.station.id, location, retrieve_date)
        self.station.update_firmware(parse_ocpp_time(retrieve_date), call.FirmwareStatusNotification)
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any) -> call_result.GetDiagnostics:
        for status in ("Uploading", "Uploaded"):
            self.station.enqueue_call(
                f"DiagnosticsStatusNotification {status}", call.DiagnosticsStatusNotification(status)
            )
        return call_result.GetDiagnostics(file_name=f"{self.station.id}-diagnostics.zip")


def _non_negative_int(value: str) -> int:
    number = int(value.strip())
    if number < 0:
        raise ValueError("must be >= 0")
    return number
