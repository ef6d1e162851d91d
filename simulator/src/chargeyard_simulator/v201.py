"""OCPP 2.0.1 adapter: translates between the station model and OCPP 2.0.1 messages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ocpp.v201 import ChargePoint as _ChargePoint201
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from .clock import format_ocpp_time, parse_ocpp_time
from .model import (
    BootReason,
    BootResult,
    ChargingState,
    Evse,
    EvseStatus,
    MeterSample,
    Outcome,
    StartTrigger,
    StopReason,
    Transaction,
    UpdateTrigger,
    readings,
)
from .ocpp_base import OrderedResponses, on, status_info
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

LOG = logging.getLogger("chargeyard_simulator.v201")

# 2.0.1 folds the 1.6 statuses of an occupied connector into "Occupied" (ConnectorStatusEnumType);
# the finer state travels as TransactionEvent chargingState.
_CONNECTOR_STATUS = {
    EvseStatus.AVAILABLE: "Available",
    EvseStatus.PREPARING: "Occupied",
    EvseStatus.CHARGING: "Occupied",
    EvseStatus.SUSPENDED_EV: "Occupied",
    EvseStatus.SUSPENDED_EVSE: "Occupied",
    EvseStatus.FINISHING: "Occupied",
    EvseStatus.RESERVED: "Reserved",
    EvseStatus.UNAVAILABLE: "Unavailable",
    EvseStatus.FAULTED: "Faulted",
}

_START_TRIGGER = {
    StartTrigger.PLUGGED_IN: "CablePluggedIn",
    StartTrigger.AUTHORIZED: "Authorized",
    StartTrigger.REMOTE_START: "RemoteStart",
}

_UPDATE_TRIGGER = {
    UpdateTrigger.PERIODIC: "MeterValuePeriodic",
    UpdateTrigger.CHARGING_STATE_CHANGED: "ChargingStateChanged",
    UpdateTrigger.TRIGGER: "Trigger",
}

# Ended: (triggerReason, stoppedReason) per E06/E07.
_STOP = {
    StopReason.EV_DISCONNECTED: ("EVCommunicationLost", "EVDisconnected"),
    StopReason.REMOTE: ("RemoteStop", "Remote"),
    StopReason.LOCAL: ("StopAuthorized", "Local"),
    StopReason.UNLOCK_COMMAND: ("UnlockCommand", "Other"),
    StopReason.DEAUTHORIZED: ("Deauthorized", "DeAuthorized"),
    StopReason.HARD_RESET: ("ResetCommand", "ImmediateReset"),
    StopReason.SOFT_RESET: ("ResetCommand", "ImmediateReset"),
    StopReason.IMMEDIATE_RESET: ("ResetCommand", "ImmediateReset"),
    StopReason.REBOOT: ("ResetCommand", "Reboot"),
    StopReason.OTHER: ("AbnormalCondition", "Other"),
}

_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC"


def profile_from_ocpp201(data: dict[str, Any]) -> ChargingProfile:
    """ChargingProfileType (already snake_case) -> ChargingProfile.

    2.0.1 allows up to three schedules for ISO 15118 schedule selection; without an EV that
    negotiates, the first one is the one to use."""
    schedules = data["charging_schedule"]
    if not schedules:
        raise ValueError("no chargingSchedule")
    if len(schedules) > 1:
        LOG.info("profile %s has %d schedules, using the first", data.get("id"), len(schedules))
    schedule = schedules[0]
    recurrency = data.get("recurrency_kind")
    return ChargingProfile(
        id=int(data["id"]),
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
        transaction_id=data.get("transaction_id"),
        min_charging_rate=float(schedule["min_charging_rate"])
        if schedule.get("min_charging_rate") is not None
        else None,
    )


def meter_value(sample: MeterSample) -> dict[str, Any]:
    """MeterValueType with 2.0.1 SampledValueTypes (numeric values, unitOfMeasure objects)."""
    values = []
    for r in readings(sample):
        value: dict[str, Any] = {
            "value": r.value,
            "context": sample.context.value,
            "measurand": r.measurand,
            "location": r.location,
            "unit_of_measure": {"unit": r.unit},
        }
        if r.phase:
            value["phase"] = r.phase
        values.append(value)
    return {"timestamp": format_ocpp_time(sample.timestamp), "sampled_value": values}


@dataclass(frozen=True)
class _Variable:
    get: Callable[[], str]
    set: Callable[[str], None] | None = None
    attributes: tuple[str, ...] = ("Actual",)
    max_set: Callable[[], str] | None = None


class V201ChargePoint(OrderedResponses, _ChargePoint201):  # type: ignore[misc]  # ocpp is untyped
    subprotocol: ClassVar[str] = "ocpp2.0.1"
    reports_charging_state: ClassVar[bool] = True

    def __init__(self, station: Station, connection: Any) -> None:
        super().__init__(station.id, connection, response_timeout=station.config.response_timeout_s)
        self.station = station

    @classmethod
    def connector_status(cls, status: EvseStatus) -> str:
        return _CONNECTOR_STATUS[status]

    # ------------------------------------------------------------------ outgoing

    async def send_boot(self, reason: BootReason) -> BootResult:
        cfg = self.station.config
        res = await self.call(
            call.BootNotification(
                charging_station={
                    "model": cfg.model,
                    "vendor_name": cfg.vendor,
                    "serial_number": cfg.serial_number or cfg.station_id,
                    "firmware_version": cfg.firmware_version,
                },
                reason=reason.value,
            ),
            suppress=False,
        )
        return BootResult(status=str(res.status), interval=int(res.interval), current_time=res.current_time)

    async def send_heartbeat(self) -> None:
        await self.call(call.Heartbeat(), suppress=False)

    async def send_status(self, evse_id: int, status: EvseStatus, timestamp: datetime) -> None:
        await self.call(
            call.StatusNotification(
                timestamp=format_ocpp_time(timestamp),
                connector_status=_CONNECTOR_STATUS[status],
                evse_id=evse_id,
                connector_id=1,
            ),
            suppress=False,
        )

    async def _transaction_event(self, tx: Transaction, **fields: Any) -> Any:
        return await self.call(call.TransactionEvent(seq_no=tx.next_seq_no(), **fields), suppress=False)

    async def send_tx_started(self, tx: Transaction, sample: MeterSample, state: ChargingState, offline: bool) -> None:
        info: dict[str, Any] = {"transaction_id": tx.id, "charging_state": state.value}
        if tx.remote_start_id is not None:
            info["remote_start_id"] = tx.remote_start_id
        evse = self.station.evses[tx.evse_id]
        res = await self._transaction_event(
            tx,
            event_type="Started",
            timestamp=format_ocpp_time(sample.timestamp),
            trigger_reason=_START_TRIGGER[tx.trigger],
            transaction_info=info,
            id_token={"id_token": tx.id_tag, "type": tx.id_token_type},
            evse={"id": tx.evse_id, "connector_id": 1},
            meter_value=[meter_value(sample)],
            offline=True if offline else None,
            reservation_id=tx.reservation_id,
            number_of_phases_used=evse.draw.phases_used or None,
        )
        status = (res.id_token_info or {}).get("status", "Accepted")
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
        await self._transaction_event(
            tx,
            event_type="Updated",
            timestamp=format_ocpp_time(sample.timestamp),
            trigger_reason=_UPDATE_TRIGGER[trigger],
            transaction_info={"transaction_id": tx.id, "charging_state": state.value},
            evse={"id": tx.evse_id, "connector_id": 1},
            meter_value=[meter_value(sample)],
            offline=True if offline else None,
        )

    async def send_tx_ended(self, tx: Transaction, sample: MeterSample, reason: StopReason, offline: bool) -> None:
        trigger, stopped = _STOP[reason]
        await self._transaction_event(
            tx,
            event_type="Ended",
            timestamp=format_ocpp_time(sample.timestamp),
            trigger_reason=trigger,
            transaction_info={
                "transaction_id": tx.id,
                "charging_state": (
                    ChargingState.EV_CONNECTED if reason is not StopReason.EV_DISCONNECTED else ChargingState.IDLE
                ).value,
                "stopped_reason": stopped,
            },
            id_token={"id_token": tx.id_tag, "type": tx.id_token_type},
            evse={"id": tx.evse_id, "connector_id": 1},
            meter_value=[meter_value(sample)],
            offline=True if offline else None,
        )

    async def send_meter_values(self, evse_id: int, sample: MeterSample, tx: Transaction | None) -> None:
        # 2.0.1 sends meter values outside TransactionEvent only for non-transaction data (J01).
        await self.call(call.MeterValues(evse_id=evse_id, meter_value=[meter_value(sample)]), suppress=False)

    # ------------------------------------------------------------------ smart charging

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        try:
            profile = profile_from_ocpp201(charging_profile)
        except (ValueError, KeyError) as exc:
            LOG.warning("[%s] SetChargingProfile rejected, cannot use profile: %r", self.station.id, exc)
            return call_result.SetChargingProfile(
                status="Rejected", status_info=status_info("InvalidProfile", str(exc))
            )
        decision = self.station.set_charging_profile(evse_id, profile)
        if decision.accepted:
            return call_result.SetChargingProfile(status="Accepted")
        return call_result.SetChargingProfile(
            status="Rejected", status_info=status_info(decision.code, decision.reason)
        )

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self, charging_profile_id: int | None = None, charging_profile_criteria: dict[str, Any] | None = None, **_: Any
    ) -> call_result.ClearChargingProfile:
        criteria = charging_profile_criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        removed = self.station.clear_charging_profiles(
            profile_id=charging_profile_id,
            evse_id=criteria.get("evse_id"),
            purpose=ProfilePurpose.from_ocpp(purpose) if purpose else None,
            stack_level=criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> call_result.GetCompositeSchedule:
        result = self.station.composite(evse_id, duration, RateUnit(charging_rate_unit) if charging_rate_unit else None)
        if result is None:
            return call_result.GetCompositeSchedule(
                status="Rejected", status_info=status_info("UnknownEVSE", f"no EVSE {evse_id}")
            )
        periods = []
        for p in result.periods:
            period: dict[str, Any] = {"start_period": p.start_period_s, "limit": p.limit}
            if p.number_phases is not None:
                period["number_phases"] = p.number_phases
            periods.append(period)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": result.duration_s,
                "schedule_start": format_ocpp_time(result.start),
                "charging_rate_unit": result.unit.value,
                "charging_schedule_period": periods,
            },
        )

    # ------------------------------------------------------------------ transactions

    @on(Action.request_start_transaction)
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> call_result.RequestStartTransaction:
        profile = None
        if charging_profile is not None:
            try:
                profile = profile_from_ocpp201(charging_profile)
            except (ValueError, KeyError) as exc:
                return call_result.RequestStartTransaction(
                    status="Rejected", status_info=status_info("InvalidProfile", str(exc))
                )
        decision = self.station.remote_start(
            evse_id,
            id_token["id_token"],
            id_token_type=id_token.get("type", "Central"),
            remote_start_id=remote_start_id,
            profile=profile,
        )
        if not decision.accepted:
            LOG.warning("[%s] RequestStartTransaction rejected: %s", self.station.id, decision.reason)
            return call_result.RequestStartTransaction(
                status="Rejected", status_info=status_info(decision.code, decision.reason)
            )
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> call_result.RequestStopTransaction:
        ok = self.station.remote_stop(transaction_id)
        if not ok:
            LOG.warning("[%s] RequestStopTransaction for unknown transaction %s", self.station.id, transaction_id)
        return call_result.RequestStopTransaction(status="Accepted" if ok else "Rejected")

    # ------------------------------------------------------------------ station management

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:
        if evse_id is not None:
            # B11/B12: a station that cannot reset a single EVSE answers Rejected.
            return call_result.Reset(
                status="Rejected", status_info=status_info("UnsupportedRequest", "EVSE reset not supported")
            )
        outcome = self.station.reset(reason=StopReason.IMMEDIATE_RESET, when_idle=type == "OnIdle")
        return call_result.Reset(status=outcome.value)

    @on(Action.change_availability)
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.ChangeAvailability:
        evse_id = int(evse["id"]) if evse else 0
        outcome = self.station.change_availability(evse_id, operative=operational_status == "Operative")
        return call_result.ChangeAvailability(status=outcome.value)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        if connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        outcome = self.station.unlock(evse_id, stop_transaction=False)
        status = {
            Outcome.UNLOCKED: "Unlocked",
            Outcome.ONGOING_TRANSACTION: "OngoingAuthorizedTransaction",
            Outcome.UNKNOWN: "UnknownConnector",
        }.get(outcome, "UnlockFailed")
        return call_result.UnlockConnector(status=status)

    @on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> call_result.TriggerMessage:
        st = self.station
        evse_id = int(evse["id"]) if evse else None
        if evse_id is not None and evse_id != 0 and evse_id not in st.evses:
            return call_result.TriggerMessage(status="Rejected")
        if requested_message == "BootNotification":
            if st.boot_accepted:
                # F06: a BootNotification is not triggered once the boot was accepted.
                return call_result.TriggerMessage(status="Rejected")
            st.trigger_boot()
        elif requested_message == "Heartbeat":
            st.trigger_heartbeat()
        elif requested_message == "StatusNotification":
            st.trigger_status(evse_id)
        elif requested_message == "MeterValues":
            st.trigger_meter_values(evse_id)
        elif requested_message == "TransactionEvent":
            st.trigger_transaction_event(evse_id)
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.reserve_now)
    def on_reserve_now(
        self, id: int, expiry_date_time: str, id_token: dict[str, Any], evse_id: int | None = None, **_: Any
    ) -> call_result.ReserveNow:
        outcome = self.station.reserve(id, evse_id, id_token["id_token"], parse_ocpp_time(expiry_date_time))
        status = outcome.value if outcome in (Outcome.ACCEPTED, Outcome.OCCUPIED, Outcome.UNAVAILABLE) else "Rejected"
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        ok = self.station.cancel_reservation(reservation_id)
        return call_result.CancelReservation(status="Accepted" if ok else "Rejected")

    # ------------------------------------------------------------------ local list (D01-D02), cache (C11)

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        st = self.station
        entries = local_authorization_list or []
        if update_type == "Full":
            st.local_list = {e["id_token"]["id_token"]: e.get("id_token_info", {}) for e in entries}
        else:
            # D01.FR.19: a differential update with a version not above the current one is refused.
            if version_number <= st.local_list_version:
                return call_result.SendLocalList(status="VersionMismatch")
            for entry in entries:
                if entry.get("id_token_info") is None:
                    st.local_list.pop(entry["id_token"]["id_token"], None)
                else:
                    st.local_list[entry["id_token"]["id_token"]] = entry["id_token_info"]
        st.local_list_version = version_number
        return call_result.SendLocalList(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(version_number=self.station.local_list_version)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        return call_result.ClearCache(status="Accepted")

    # ------------------------------------------------------------------ firmware (L01), logs (N01)

    @on(Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> call_result.UpdateFirmware:
        LOG.info("[%s] firmware from %s at %s", self.station.id, firmware["location"], firmware["retrieve_date_time"])
        self.station.update_firmware(
            parse_ocpp_time(firmware["retrieve_date_time"]),
            lambda status: call.FirmwareStatusNotification(status=status, request_id=request_id),
        )
        return call_result.UpdateFirmware(status="Accepted")

    @on(Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **_: Any) -> call_result.GetLog:
        for status in ("Uploading", "Uploaded"):
            self.station.enqueue_call(
                f"LogStatusNotification {status}", call.LogStatusNotification(status=status, request_id=request_id)
            )
        return call_result.GetLog(status="Accepted", filename=f"{self.station.id}-{log_type}.zip")

    # ------------------------------------------------------------------ device model

    def _device_model(self) -> dict[tuple[str, int | None, str, str | None], _Variable]:
        """(component, evse id, variable, instance) -> variable. Names per OCPP 2.0.1 Part 2 appendices."""
        st = self.station
        cfg = st.config
        s = st.settings

        def const(value: str) -> Callable[[], str]:
            return lambda: value

        def extra(key: str, default: str) -> _Variable:
            return _Variable(lambda: s.extra.get(key, default), lambda v: s.extra.__setitem__(key, v))

        model: dict[tuple[str, int | None, str, str | None], _Variable] = {
            ("SmartChargingCtrlr", None, "Enabled", None): _Variable(const("true")),
            ("SmartChargingCtrlr", None, "Available", None): _Variable(const("true")),
            ("SmartChargingCtrlr", None, "RateUnit", None): _Variable(const(",".join(cfg.allowed_rate_units))),
            ("SmartChargingCtrlr", None, "PeriodsPerSchedule", None): _Variable(const(str(cfg.max_schedule_periods))),
            ("SmartChargingCtrlr", None, "ProfileStackLevel", None): _Variable(const(str(cfg.max_stack_level))),
            ("SmartChargingCtrlr", None, "Entries", "ChargingProfiles"): _Variable(
                lambda: str(st.profiles.count()),
                max_set=const(str(max(8, (cfg.max_stack_level + 1) * 3))),
                attributes=("Actual", "MaxSet"),
            ),
            ("SmartChargingCtrlr", None, "ExternalControlSignalsEnabled", None): _Variable(const("false")),
            ("SmartChargingCtrlr", None, "Phases3to1", None): _Variable(const("false")),
            ("SmartChargingCtrlr", None, "LimitChangeSignificance", None): extra("LimitChangeSignificance", "0.0"),
            ("SmartChargingCtrlr", None, "NotifyChargingLimitWithSchedules", None): extra(
                "NotifyChargingLimitWithSchedules", "false"
            ),
            ("SampledDataCtrlr", None, "Enabled", None): _Variable(const("true")),
            ("SampledDataCtrlr", None, "TxUpdatedInterval", None): _Variable(
                lambda: f"{s.meter_interval_s:g}", lambda v: st.set_meter_interval(_non_negative_int(v))
            ),
            ("SampledDataCtrlr", None, "TxUpdatedMeasurands", None): extra("TxUpdatedMeasurands", _MEASURANDS),
            ("SampledDataCtrlr", None, "TxStartedMeasurands", None): extra("TxStartedMeasurands", _MEASURANDS),
            ("SampledDataCtrlr", None, "TxEndedMeasurands", None): extra("TxEndedMeasurands", _MEASURANDS),
            ("SampledDataCtrlr", None, "TxEndedInterval", None): extra("TxEndedInterval", "0"),
            ("AlignedDataCtrlr", None, "Enabled", None): _Variable(const("true")),
            ("AlignedDataCtrlr", None, "Interval", None): _Variable(
                lambda: f"{s.aligned_interval_s:g}", lambda v: st.set_aligned_interval(_non_negative_int(v))
            ),
            ("OCPPCommCtrlr", None, "HeartbeatInterval", None): _Variable(
                lambda: str(s.heartbeat_interval_s), lambda v: st.set_heartbeat_interval(_non_negative_int(v) or 1)
            ),
            ("ReservationCtrlr", None, "Enabled", None): _Variable(const("true")),
            ("ReservationCtrlr", None, "Available", None): _Variable(const("true")),
            ("ReservationCtrlr", None, "NonEvseSpecific", None): _Variable(const("true")),
            ("AuthCtrlr", None, "Enabled", None): _Variable(const("true")),
            ("AuthCtrlr", None, "AuthorizeRemoteStart", None): _Variable(const("false")),
            ("TxCtrlr", None, "EVConnectionTimeOut", None): _Variable(
                lambda: str(s.connection_timeout_s), lambda v: setattr(s, "connection_timeout_s", _non_negative_int(v))
            ),
            ("TxCtrlr", None, "StopTxOnEVSideDisconnect", None): _Variable(const("true")),
            ("TxCtrlr", None, "TxStartPoint", None): _Variable(const("EVConnected,Authorized")),
            ("TxCtrlr", None, "TxStopPoint", None): _Variable(const("EVConnected,Authorized")),
            ("DeviceDataCtrlr", None, "ItemsPerMessage", "GetVariables"): _Variable(const("50")),
            ("DeviceDataCtrlr", None, "ItemsPerMessage", "SetVariables"): _Variable(const("50")),
            ("DeviceDataCtrlr", None, "BytesPerMessage", "GetVariables"): _Variable(const("65000")),
            ("DeviceDataCtrlr", None, "BytesPerMessage", "SetVariables"): _Variable(const("65000")),
            ("ClockCtrlr", None, "DateTime", None): _Variable(lambda: format_ocpp_time(st.now())),
            ("ChargingStation", None, "Model", None): _Variable(const(cfg.model)),
            ("ChargingStation", None, "VendorName", None): _Variable(const(cfg.vendor)),
            ("ChargingStation", None, "PhaseRotation", None): _Variable(lambda: s.phase_rotation),
            ("ChargingStation", None, "SupplyPhases", None): _Variable(
                const(str(max(e.hardware.phases for e in st.evses.values())))
            ),
            ("ChargingStation", None, "AvailabilityState", None): _Variable(
                lambda: "Available" if any(e.operative for e in st.evses.values()) else "Unavailable"
            ),
        }
        for evse_id, evse in st.evses.items():
            model[("EVSE", evse_id, "AvailabilityState", None)] = _Variable(_evse_reader(evse, _availability))
            model[("EVSE", evse_id, "SupplyPhases", None)] = _Variable(const(str(evse.hardware.phases)))
            model[("EVSE", evse_id, "PhaseRotation", None)] = _Variable(lambda: s.phase_rotation)
            model[("EVSE", evse_id, "Power", None)] = _Variable(
                _evse_reader(evse, _power),
                attributes=("Actual", "MaxSet"),
                max_set=const(f"{evse.hardware.max_power_w:.0f}"),
            )
        return model

    def _resolve(
        self, model: dict[tuple[str, int | None, str, str | None], _Variable], item: dict[str, Any]
    ) -> tuple[str, _Variable | None]:
        """Find the variable for a Get/SetVariableData entry: (status if not found, variable)."""
        component = item["component"]
        variable = item["variable"]
        evse_id = (component.get("evse") or {}).get("id")
        key = (component["name"], evse_id, variable["name"], variable.get("instance"))
        found = model.get(key)
        if found is not None:
            return "Accepted", found
        if not any(k[0] == key[0] and k[1] == key[1] for k in model):
            return "UnknownComponent", None
        return "UnknownVariable", None

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> call_result.GetVariables:
        model = self._device_model()
        results = []
        for item in get_variable_data:
            attribute = item.get("attribute_type") or "Actual"
            status, var = self._resolve(model, item)
            result: dict[str, Any] = {
                "attribute_status": status,
                "component": item["component"],
                "variable": item["variable"],
            }
            if item.get("attribute_type"):
                result["attribute_type"] = attribute
            if var is not None:
                if attribute not in var.attributes:
                    result["attribute_status"] = "NotSupportedAttributeType"
                else:
                    getter = var.max_set if attribute == "MaxSet" and var.max_set is not None else var.get
                    result["attribute_value"] = getter()
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> call_result.SetVariables:
        model = self._device_model()
        results = []
        for item in set_variable_data:
            attribute = item.get("attribute_type") or "Actual"
            status, var = self._resolve(model, item)
            if var is not None:
                if attribute != "Actual":
                    status = "NotSupportedAttributeType"
                elif var.set is None:
                    status = "Rejected"  # read-only
                else:
                    try:
                        var.set(str(item["attribute_value"]))
                        LOG.info(
                            "[%s] %s.%s = %s",
                            self.station.id,
                            item["component"]["name"],
                            item["variable"]["name"],
                            item["attribute_value"],
                        )
                    except ValueError as exc:
                        LOG.warning(
                            "[%s] SetVariables %s.%s=%r rejected: %s",
                            self.station.id,
                            item["component"]["name"],
                            item["variable"]["name"],
                            item["attribute_value"],
                            exc,
                        )
                        status = "Rejected"
            result: dict[str, Any] = {
                "attribute_status": status,
                "component": item["component"],
                "variable": item["variable"],
            }
            if item.get("attribute_type"):
                result["attribute_type"] = attribute
            results.append(result)
        return call_result.SetVariables(set_variable_result=results)


def _availability(evse: Evse) -> str:
    return _CONNECTOR_STATUS[evse.status]


def _power(evse: Evse) -> str:
    return f"{evse.draw.total_w:.0f}"


def _evse_reader(evse: Evse, read: Callable[[Evse], str]) -> Callable[[], str]:
    """Bind *evse* now (a lambda in the loop would see the last EVSE only)."""
    return lambda: read(evse)


def _non_negative_int(value: str) -> int:
    number = int(value.strip())
    if number < 0:
        raise ValueError("must be >= 0")
    return number
