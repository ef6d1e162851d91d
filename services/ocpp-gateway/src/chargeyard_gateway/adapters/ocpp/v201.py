"""OCPP 2.0.1 CSMS, and OCPP 2.1 on the same handlers (the messages used here did not change
between the two; the ocpp library validates each session against its own version's schemas).

Functional blocks: B provisioning (boot, Get/SetVariables, Reset), C authorization, D local
authorization list, E transactions, F remote control, G availability, H reservation, J meter
values, K smart charging (including K15 NotifyEVChargingNeeds), L firmware, N diagnostics and
events (GetLog, LogStatusNotification, NotifyEvent, SecurityEventNotification).
A (certificates) belongs to the security profiles and is answered NotSupported until they
handle it."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from chargeyard_contracts.base import ChargingRateUnit, OcppVersion
from chargeyard_contracts.commands import (
    CancelReservation,
    ChangeAvailability,
    ClearCache,
    ClearChargingProfile,
    CommandOutcome,
    GetCompositeSchedule,
    GetConfiguration,
    GetLocalListVersion,
    GetLog,
    ProfilePurpose,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    Reset,
    ResetKind,
    SendLocalList,
    SetChargingProfile,
    SetConfiguration,
    TriggerMessage,
    UnlockConnector,
    UpdateFirmware,
)
from chargeyard_contracts.stations import (
    CompositePeriod,
    CompositeScheduleReported,
    ConfigurationReported,
    ConfigurationValue,
    EvChargingNeedsReported,
    EvseInfo,
    FirmwareStatusChanged,
    LogStatusChanged,
    ReservationStatusChanged,
    SecurityEventReported,
    SignedMeterValue,
    StationCapabilities,
    StationEventReported,
    StationStatusChanged,
    TransactionEventKind,
)
from ocpp import v21
from ocpp.routing import after, on
from ocpp.v21.enums import Action as Action21
from ocpp.v201 import ChargePoint
from ocpp.v201.enums import Action

from ...domain import capabilities as capabilities_rules
from ...domain.meter import Sample
from ...domain.profiles import CannotTranslate, schedule_for_station
from ...domain.status import connector_status as to_status
from ...service_layer.stations import BootInfo, MeterReading
from .common import CentralSystemSession, outcome_of, parse_time, wire_time

log = logging.getLogger(__name__)


def readings(meter_value: list[dict[str, Any]]) -> list[MeterReading]:
    """2.0.1 MeterValueType list (snake_case) -> readings."""
    out: list[MeterReading] = []
    for mv in meter_value:
        samples = []
        for sv in mv.get("sampled_value", []):
            unit = sv.get("unit_of_measure") or {}
            signed = sv.get("signed_meter_value")
            samples.append(
                Sample(
                    value=sv["value"],
                    measurand=sv.get("measurand"),
                    unit=unit.get("unit"),
                    multiplier=int(unit.get("multiplier", 0)),
                    phase=sv.get("phase"),
                    context=sv.get("context"),
                    signed=SignedMeterValue(
                        format=signed["encoding_method"],
                        data=signed["signed_meter_data"],
                        public_key=signed.get("public_key") or None,
                        signing_method=signed.get("signing_method") or None,
                    )
                    if signed
                    else None,
                )
            )
        out.append((parse_time(mv["timestamp"]), samples))
    return out


_KINDS = {
    "Started": TransactionEventKind.STARTED,
    "Updated": TransactionEventKind.UPDATED,
    "Ended": TransactionEventKind.ENDED,
}


class CentralSystem201(CentralSystemSession, ChargePoint):
    version = OcppVersion.V201
    KNOWN_ACTIONS = frozenset(a.value for a in Action)

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **kwargs: Any) -> Any:
        self.accepted = await self.stations.boot(
            self.station_id,
            self.version,
            BootInfo(
                vendor=charging_station["vendor_name"],
                model=charging_station["model"],
                serial_number=charging_station.get("serial_number"),
                firmware_version=charging_station.get("firmware_version"),
            ),
        )
        return self._call_result.BootNotification(
            current_time=wire_time(self.stations.clock.now()),
            interval=self.settings.heartbeat_interval_s,
            status="Accepted" if self.accepted else "Rejected",
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **kwargs: Any) -> None:
        if self.accepted:
            self.spawn(self.after_accepted_boot(), "boot")

    async def learn_capabilities(self) -> tuple[StationCapabilities, tuple[EvseInfo, ...]]:
        result = await self.ask(
            self._call.GetVariables(
                get_variable_data=[
                    {"component": {"name": component}, "variable": {"name": variable}}
                    for component, variable in capabilities_rules.V201_VARIABLES
                ]
            )
        )
        values = {
            (r["component"]["name"], r["variable"]["name"]): r["attribute_value"]
            for r in result.get_variable_result
            if r.get("attribute_status") == "Accepted" and r.get("attribute_value") is not None
        }
        # EVSEs are learned from StatusNotifications (the device model report comes later).
        return capabilities_rules.from_v201_variables(self.version, values), ()

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kwargs: Any) -> Any:
        await self.stations.seen(self.station_id)
        return self._call_result.Heartbeat(current_time=wire_time(self.stations.clock.now()))

    @on(Action.status_notification)
    async def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **kwargs: Any
    ) -> Any:
        await self.stations.status_changed(
            StationStatusChanged(
                station_id=self.station_id,
                evse_id=evse_id,
                connector_id=connector_id,
                status=to_status(connector_status),
                station_timestamp=parse_time(timestamp),
                received_at=self.stations.clock.now(),
            )
        )
        return self._call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **kwargs: Any) -> Any:
        status = await self.stations.authorize(id_token["id_token"])
        return self._call_result.Authorize(id_token_info={"status": status})

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any) -> Any:
        await self.stations.publish(self.stations.reports(self.station_id, evse_id, 1, None, readings(meter_value)))
        return self._call_result.MeterValues()

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        **kwargs: Any,
    ) -> Any:
        evse = kwargs.get("evse") or {}
        token = (kwargs.get("id_token") or {}).get("id_token")
        await self.stations.transaction_event(
            self.station_id,
            self.version,
            kind=_KINDS[event_type],
            transaction_id=transaction_info["transaction_id"],
            timestamp=parse_time(timestamp),
            evse_id=evse.get("id"),
            connector_id=evse.get("connector_id"),
            id_token=token,
            offline=bool(kwargs.get("offline", False)),
            reason=transaction_info.get("stopped_reason") or trigger_reason,
            readings=readings(kwargs.get("meter_value") or []),
        )
        if token:
            status = await self.stations.authorize(token)
            return self._call_result.TransactionEvent(id_token_info={"status": status})
        return self._call_result.TransactionEvent()

    @on(Action.notify_event)
    async def on_notify_event(
        self, generated_at: str, seq_no: int, event_data: list[dict[str, Any]], **kwargs: Any
    ) -> Any:
        now = self.stations.clock.now()
        events = []
        for data in event_data:
            evse = (data.get("component") or {}).get("evse") or {}
            tx = data.get("transaction_id")
            events.append(
                StationEventReported(
                    station_id=self.station_id,
                    event_id=data["event_id"],
                    trigger=data["trigger"],
                    event_notification_type=data["event_notification_type"],
                    component=data["component"]["name"],
                    variable=data["variable"]["name"],
                    evse_id=evse.get("id"),
                    connector_id=evse.get("connector_id"),
                    actual_value=data["actual_value"],
                    cleared=data.get("cleared"),
                    tech_code=data.get("tech_code"),
                    tech_info=data.get("tech_info"),
                    cause=data.get("cause"),
                    transaction_id=await self.stations.platform_transaction_id(self.station_id, tx) if tx else None,
                    station_timestamp=parse_time(data["timestamp"]),
                    received_at=now,
                )
            )
        await self.stations.publish(events)
        return self._call_result.NotifyEvent()

    @on(Action.notify_report)
    async def on_notify_report(self, **kwargs: Any) -> Any:
        return self._call_result.NotifyReport()

    @on(Action.security_event_notification)
    async def on_security_event(self, type: str, timestamp: str, **kwargs: Any) -> Any:
        await self.stations.publish(
            [
                SecurityEventReported(
                    station_id=self.station_id,
                    type=type,
                    tech_info=kwargs.get("tech_info"),
                    station_timestamp=parse_time(timestamp),
                    received_at=self.stations.clock.now(),
                )
            ]
        )
        return self._call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, status: str, **kwargs: Any) -> Any:
        await self.stations.publish(
            [
                FirmwareStatusChanged(
                    station_id=self.station_id,
                    status=status,
                    request_id=kwargs.get("request_id"),
                    received_at=self.stations.clock.now(),
                )
            ]
        )
        return self._call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, status: str, **kwargs: Any) -> Any:
        await self.stations.publish(
            [
                LogStatusChanged(
                    station_id=self.station_id,
                    status=status,
                    request_id=kwargs.get("request_id"),
                    received_at=self.stations.clock.now(),
                )
            ]
        )
        return self._call_result.LogStatusNotification()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, charging_needs: dict[str, Any], evse_id: int, **kwargs: Any) -> Any:
        await self.stations.publish(
            [
                EvChargingNeedsReported(
                    station_id=self.station_id,
                    evse_id=evse_id,
                    transaction_id=await self.stations.active_transaction_id(self.station_id, evse_id),
                    max_schedule_tuples=kwargs.get("max_schedule_tuples"),
                    received_at=self.stations.clock.now(),
                    **charging_needs_fields(charging_needs),
                )
            ]
        )
        # K15.FR.05: Processing = the CSMS is working out a schedule; it comes later as a
        # SetChargingProfile from the planner, not from this gateway.
        return self._call_result.NotifyEVChargingNeeds(status="Processing")

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, **kwargs: Any) -> Any:
        return self._call_result.NotifyEVChargingSchedule(status="Accepted")  # kept in the journal

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(
        self, reservation_id: int, reservation_update_status: str, **kwargs: Any
    ) -> Any:
        platform_id = await self.stations.reservation_of(self.station_id, reservation_id)
        await self.stations.publish(
            [
                ReservationStatusChanged(
                    station_id=self.station_id,
                    reservation_id=platform_id or str(reservation_id),
                    status=reservation_update_status,
                    received_at=self.stations.clock.now(),
                )
            ]
        )
        return self._call_result.ReservationStatusUpdate()

    # Reports the station sends on request or on its own; their content stays in the journal.
    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, **kwargs: Any) -> Any:
        return self._call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(self, **kwargs: Any) -> Any:
        return self._call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, **kwargs: Any) -> Any:
        return self._call_result.ReportChargingProfiles()

    @on(Action.notify_monitoring_report)
    async def on_notify_monitoring_report(self, **kwargs: Any) -> Any:
        return self._call_result.NotifyMonitoringReport()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(self, **kwargs: Any) -> Any:
        return self._call_result.NotifyCustomerInformation()

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(self, **kwargs: Any) -> Any:
        return self._call_result.NotifyDisplayMessages()

    @on(Action.publish_firmware_status_notification)
    async def on_publish_firmware_status(self, **kwargs: Any) -> Any:
        return self._call_result.PublishFirmwareStatusNotification()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        return self._call_result.DataTransfer(status="UnknownVendorId")  # P01: no vendor extensions here

    async def sync_local_list(self) -> None:
        version, rows = await self.stations.local_list()
        if not rows:
            return
        current = (await self.ask(self._call.GetLocalListVersion())).version_number
        if current == version:
            return
        result = await self.ask(
            await _send_local_list(self, SendLocalList(station_id=self.station_id, version=version, from_tokens=True))
        )
        log.info("%s: local list version %d sent: %s", self.station_id, version, result.status)


def charging_needs_fields(needs: dict[str, Any]) -> dict[str, Any]:
    """K15 ChargingNeedsType -> the event's fields. AC: energyAmount Wh, currents A per phase;
    DC: powers W, energies Wh, SoC %."""
    ac = needs.get("ac_charging_parameters") or {}
    dc = needs.get("dc_charging_parameters") or {}
    energy = ac.get("energy_amount", dc.get("energy_amount"))
    departure = needs.get("departure_time")
    return {
        "requested_energy_transfer": needs["requested_energy_transfer"],
        "departure_time": parse_time(departure) if departure else None,
        "energy_wh": int(energy) if energy is not None else None,
        "min_current_a": ac.get("ev_min_current"),
        "max_current_a": ac.get("ev_max_current", dc.get("ev_max_current")),
        "max_voltage_v": ac.get("ev_max_voltage", dc.get("ev_max_voltage")),
        "max_power_w": int(dc["ev_max_power"]) if dc.get("ev_max_power") is not None else None,
        "soc_percent": dc.get("state_of_charge"),
        "full_soc_percent": dc.get("full_soc"),
        "battery_capacity_wh": int(dc["ev_energy_capacity"]) if dc.get("ev_energy_capacity") is not None else None,
    }


class CentralSystem21(CentralSystem201):
    version = OcppVersion.V21
    KNOWN_ACTIONS = frozenset(a.value for a in Action21)
    _call = v21.call
    _call_result = v21.call_result
    _ocpp_version = "2.1"


# --- outbound: contract command -> OCPP 2.0.1 call ------------------------------------------------


async def _set_charging_profile(cs: CentralSystem201, cmd: SetChargingProfile) -> Any:
    schedule = schedule_for_station(cmd.unit, cmd.periods, cmd.stack_level, cs.capabilities)
    profile: dict[str, Any] = {
        "id": cmd.profile_id,
        "stack_level": schedule.stack_level,
        "charging_profile_purpose": cmd.purpose.value,
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": cmd.profile_id,
                "start_schedule": wire_time(cmd.start),
                "charging_rate_unit": schedule.unit.value,
                "charging_schedule_period": [
                    {
                        "start_period": p.start_offset_s,
                        "limit": round(p.limit, 1)
                        if schedule.unit == ChargingRateUnit.AMPERES
                        else float(int(p.limit)),
                        **({"number_phases": p.phases} if p.phases else {}),
                    }
                    for p in schedule.periods
                ],
            }
        ],
    }
    if cmd.purpose == ProfilePurpose.TX:
        if cmd.transaction_id is None:
            raise CannotTranslate("a TxProfile needs a transaction_id (OCPP 2.0.1 K01.FR.03)")
        profile["transaction_id"] = await _station_tx(cs, cmd.transaction_id)
    # K01.FR.38: a ChargingStationMaxProfile is set on evse 0.
    evse = 0 if cmd.purpose == ProfilePurpose.STATION_MAX else cmd.evse_id
    return cs._call.SetChargingProfile(evse_id=evse, charging_profile=profile)


async def _clear_charging_profile(cs: CentralSystem201, cmd: ClearChargingProfile) -> Any:
    criteria = {
        k: v
        for k, v in {
            "evse_id": cmd.evse_id,
            "charging_profile_purpose": cmd.purpose.value if cmd.purpose else None,
            "stack_level": cmd.stack_level,
        }.items()
        if v is not None
    }
    return cs._call.ClearChargingProfile(charging_profile_id=cmd.profile_id, charging_profile_criteria=criteria or None)


async def _remote_start(cs: CentralSystem201, cmd: RemoteStart) -> Any:
    # The contract's token carries no type; "Central" is the 2.0.1 IdTokenEnumType for a token the
    # CSMS vouches for (a QR scan or an app start): the station does not look it up locally.
    return cs._call.RequestStartTransaction(
        id_token={"id_token": cmd.id_token, "type": cmd.id_token_type or "Central"},
        remote_start_id=secrets.randbelow(2**31 - 1) + 1,
        evse_id=cmd.evse_id,
    )


async def _station_tx(cs: CentralSystem201, transaction_id: str) -> str:
    station_tx = await cs.stations.station_transaction_id(cs.station_id, transaction_id)
    if station_tx is None:
        raise CannotTranslate(f"transaction {transaction_id} is unknown on this station")
    return station_tx


async def _remote_stop(cs: CentralSystem201, cmd: RemoteStop) -> Any:
    return cs._call.RequestStopTransaction(transaction_id=await _station_tx(cs, cmd.transaction_id))


async def _reset(cs: CentralSystem201, cmd: Reset) -> Any:
    # B11/B12: Immediate ends transactions now; OnIdle waits for them (the soft reset's intent).
    return cs._call.Reset(type="Immediate" if cmd.kind == ResetKind.HARD else "OnIdle")


async def _change_availability(cs: CentralSystem201, cmd: ChangeAvailability) -> Any:
    return cs._call.ChangeAvailability(
        operational_status="Operative" if cmd.operative else "Inoperative",
        evse={"id": cmd.evse_id} if cmd.evse_id else None,
    )


async def _unlock_connector(cs: CentralSystem201, cmd: UnlockConnector) -> Any:
    return cs._call.UnlockConnector(evse_id=cmd.evse_id, connector_id=cmd.connector_id or 1)


async def _trigger_message(cs: CentralSystem201, cmd: TriggerMessage) -> Any:
    # F06 MessageTriggerEnumType: 1.6's DiagnosticsStatusNotification is LogStatusNotification here.
    message = "LogStatusNotification" if cmd.message == "DiagnosticsStatusNotification" else cmd.message
    return cs._call.TriggerMessage(requested_message=message, evse={"id": cmd.evse_id} if cmd.evse_id else None)


def _token(id_token: str, kind: str | None) -> dict[str, str]:
    # The contract's tokens are RFID idTags unless told otherwise (2.0.1 IdTokenEnumType).
    return {"id_token": id_token, "type": kind or "ISO14443"}


async def _reserve_now(cs: CentralSystem201, cmd: ReserveNow) -> Any:
    number = await cs.stations.reservation_number(cs.station_id, cmd.reservation_id)
    return cs._call.ReserveNow(
        id=number, expiry_date_time=wire_time(cmd.expires_at), id_token=_token(cmd.id_token, None), evse_id=cmd.evse_id
    )


async def _cancel_reservation(cs: CentralSystem201, cmd: CancelReservation) -> Any:
    return cs._call.CancelReservation(
        reservation_id=await cs.stations.reservation_number(cs.station_id, cmd.reservation_id)
    )


async def _update_firmware(cs: CentralSystem201, cmd: UpdateFirmware) -> Any:
    firmware = {
        "location": cmd.location,
        "retrieve_date_time": wire_time(cmd.retrieve_at),
        **({"signing_certificate": cmd.signing_certificate} if cmd.signing_certificate else {}),
        **({"signature": cmd.signature} if cmd.signature else {}),
    }
    # L01: requestId ties the FirmwareStatusNotifications to this update.
    request_id = cmd.request_id if cmd.request_id is not None else secrets.randbelow(2**31 - 1) + 1
    return cs._call.UpdateFirmware(
        request_id=request_id, firmware=firmware, retries=cmd.retries, retry_interval=cmd.retry_interval_s
    )


async def _send_local_list(cs: CentralSystem201, cmd: SendLocalList) -> Any:
    """D01: Full replaces the station's list, Differential updates the entries named."""
    if cmd.from_tokens:
        version, rows = await cs.stations.local_list()
        entries = [(r.id_token, None, r.status, r.expires_at) for r in rows]
        version, full = version or cmd.version, True
    else:
        entries = [(e.id_token, e.id_token_type, e.status, e.expires_at) for e in cmd.entries]
        version, full = cmd.version, cmd.full
    return cs._call.SendLocalList(
        version_number=version,
        update_type="Full" if full else "Differential",
        local_authorization_list=[
            {
                "id_token": _token(token, kind),
                "id_token_info": {
                    "status": status,
                    **({"cache_expiry_date_time": wire_time(expires)} if expires else {}),
                },
            }
            for token, kind, status, expires in entries
        ]
        or None,
    )


async def _get_local_list_version(cs: CentralSystem201, cmd: GetLocalListVersion) -> Any:
    return cs._call.GetLocalListVersion()


async def _clear_cache(cs: CentralSystem201, cmd: ClearCache) -> Any:
    return cs._call.ClearCache()


async def _get_composite_schedule(cs: CentralSystem201, cmd: GetCompositeSchedule) -> Any:
    return cs._call.GetCompositeSchedule(
        duration=cmd.duration_s, evse_id=cmd.evse_id, charging_rate_unit=cmd.unit.value if cmd.unit else None
    )


async def _get_log(cs: CentralSystem201, cmd: GetLog) -> Any:
    log_parameters = {
        "remote_location": cmd.location,
        **({"oldest_timestamp": wire_time(cmd.oldest)} if cmd.oldest else {}),
        **({"latest_timestamp": wire_time(cmd.latest)} if cmd.latest else {}),
    }
    return cs._call.GetLog(
        log=log_parameters,
        log_type=cmd.log_type,
        request_id=cmd.request_id,
        retries=cmd.retries,
        retry_interval=cmd.retry_interval_s,
    )


def _component_variable(component: str | None, variable: str) -> dict[str, Any]:
    # A 1.6-style key without a component is looked up on the station as a whole.
    return {"component": {"name": component or "ChargingStation"}, "variable": {"name": variable}}


async def _get_variables(cs: CentralSystem201, cmd: GetConfiguration) -> Any:
    return cs._call.GetVariables(get_variable_data=[_component_variable(k.component, k.variable) for k in cmd.keys])


async def _set_variables(cs: CentralSystem201, cmd: SetConfiguration) -> Any:
    return cs._call.SetVariables(
        set_variable_data=[{"attribute_value": cmd.value, **_component_variable(cmd.component, cmd.variable)}]
    )


CentralSystem201.COMMANDS = {
    SetChargingProfile: _set_charging_profile,
    ClearChargingProfile: _clear_charging_profile,
    RemoteStart: _remote_start,
    RemoteStop: _remote_stop,
    Reset: _reset,
    ChangeAvailability: _change_availability,
    UnlockConnector: _unlock_connector,
    TriggerMessage: _trigger_message,
    ReserveNow: _reserve_now,
    CancelReservation: _cancel_reservation,
    UpdateFirmware: _update_firmware,
    SendLocalList: _send_local_list,
    GetLocalListVersion: _get_local_list_version,
    ClearCache: _clear_cache,
    GetCompositeSchedule: _get_composite_schedule,
    GetLog: _get_log,
    GetConfiguration: _get_variables,
    SetConfiguration: _set_variables,
}


# --- answers that carry data ---------------------------------------------------------------------


async def _list_version_result(
    cs: CentralSystem201, cmd: GetLocalListVersion, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    return CommandOutcome.ACCEPTED, f"versionNumber {result.version_number}"


async def _log_result(
    cs: CentralSystem201, cmd: GetLog, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    outcome, detail = outcome_of(result.status)
    return outcome, result.filename or detail


async def _composite_result(
    cs: CentralSystem201, cmd: GetCompositeSchedule, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    outcome, detail = outcome_of(result.status)
    schedule = result.schedule
    if outcome == CommandOutcome.ACCEPTED and schedule:
        await cs.stations.publish(
            [
                CompositeScheduleReported(
                    station_id=cs.station_id,
                    command_id=command_id or "",
                    evse_id=schedule["evse_id"],
                    unit=ChargingRateUnit(schedule["charging_rate_unit"]),
                    start=parse_time(schedule["schedule_start"]),
                    duration_s=schedule["duration"],
                    periods=tuple(
                        CompositePeriod(
                            start_offset_s=p["start_period"], limit=float(p["limit"]), phases=p.get("number_phases")
                        )
                        for p in schedule["charging_schedule_period"]
                    ),
                    received_at=cs.stations.clock.now(),
                )
            ]
        )
    elif outcome != CommandOutcome.ACCEPTED and result.status_info:
        detail = f"{detail}: {result.status_info.get('reason_code')}"
    return outcome, detail


async def _variables_result(
    cs: CentralSystem201, cmd: GetConfiguration, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    values = tuple(
        ConfigurationValue(
            component=r["component"]["name"],
            variable=r["variable"]["name"],
            value=r.get("attribute_value"),
            status=r["attribute_status"],
        )
        for r in result.get_variable_result
    )
    await cs.stations.publish(
        [
            ConfigurationReported(
                station_id=cs.station_id,
                command_id=command_id or "",
                values=values,
                received_at=cs.stations.clock.now(),
            )
        ]
    )
    return CommandOutcome.ACCEPTED, None


async def _set_variables_result(
    cs: CentralSystem201, cmd: SetConfiguration, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    status = result.set_variable_result[0]["attribute_status"]
    if status in ("UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"):
        return CommandOutcome.NOT_SUPPORTED, status
    return outcome_of(status)


CentralSystem201.RESULTS = {
    GetLocalListVersion: _list_version_result,
    GetLog: _log_result,
    GetCompositeSchedule: _composite_result,
    GetConfiguration: _variables_result,
    SetConfiguration: _set_variables_result,
}
