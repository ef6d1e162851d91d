"""OCPP 1.6J central system: every profile of §3 (Core, Firmware Management, Local Auth List
Management, Reservation, Smart Charging, Remote Trigger).

Station to central system (§4): BootNotification, Heartbeat, StatusNotification, Authorize,
StartTransaction, StopTransaction, MeterValues, DataTransfer, FirmwareStatusNotification,
DiagnosticsStatusNotification. Central system to station (§5): `COMMANDS` below."""

from __future__ import annotations

import logging
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
    EvseInfo,
    FirmwareStatusChanged,
    LogStatusChanged,
    SignedMeterValue,
    StationCapabilities,
    StationStatusChanged,
)
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from ...domain import capabilities as capabilities_rules
from ...domain.meter import Sample
from ...domain.profiles import CannotTranslate, schedule_for_station
from ...domain.status import connector_status
from ...domain.status import error_code as normalised_error_code
from ...service_layer.stations import BootInfo, MeterReading
from .common import V16_CODES, CentralSystemSession, outcome_of, parse_time, wire_time

log = logging.getLogger(__name__)

# 1.6 names the station-wide maximum profile ChargePointMaxProfile (§7.13).
_PURPOSES = {
    ProfilePurpose.STATION_MAX: "ChargePointMaxProfile",
    ProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ProfilePurpose.TX: "TxProfile",
}


def readings(meter_value: list[dict[str, Any]]) -> list[MeterReading]:
    """1.6 MeterValue list (snake_case, as the ocpp library hands it over) -> readings."""
    out: list[MeterReading] = []
    for mv in meter_value:
        samples = []
        for sv in mv.get("sampled_value", []):
            signed = sv.get("format") == "SignedData"
            samples.append(
                Sample(
                    value=None if signed else sv["value"],
                    measurand=sv.get("measurand"),
                    unit=sv.get("unit"),
                    phase=sv.get("phase"),
                    context=sv.get("context"),
                    signed=SignedMeterValue(format="SignedData", data=sv["value"]) if signed else None,
                )
            )
        out.append((parse_time(mv["timestamp"]), samples))
    return out


class CentralSystem16(CentralSystemSession, ChargePoint):
    version = OcppVersion.V16
    ERROR_CODES = V16_CODES
    KNOWN_ACTIONS = frozenset(a.value for a in Action)

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        self.accepted = await self.stations.boot(
            self.station_id,
            self.version,
            BootInfo(
                vendor=charge_point_vendor,
                model=charge_point_model,
                serial_number=kwargs.get("charge_point_serial_number") or kwargs.get("charge_box_serial_number"),
                firmware_version=kwargs.get("firmware_version"),
            ),
        )
        return call_result.BootNotification(
            current_time=wire_time(self.stations.clock.now()),
            interval=self.settings.heartbeat_interval_s,
            status="Accepted" if self.accepted else "Rejected",
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **kwargs: Any) -> None:
        if self.accepted:
            self.spawn(self.after_accepted_boot(), "boot")

    async def learn_capabilities(self) -> tuple[StationCapabilities, tuple[EvseInfo, ...]]:
        result = await self.ask(call.GetConfiguration(key=list(capabilities_rules.V16_KEYS)))
        values = {kv["key"]: kv.get("value") for kv in (result.configuration_key or []) if kv.get("value")}
        return capabilities_rules.from_v16_configuration(values)

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        await self.stations.seen(self.station_id)
        return call_result.Heartbeat(current_time=wire_time(self.stations.clock.now()))

    @on(Action.status_notification)
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **kwargs: Any
    ) -> call_result.StatusNotification:
        await self.stations.status_changed(
            StationStatusChanged(
                station_id=self.station_id,
                evse_id=connector_id,
                connector_id=1 if connector_id else 0,
                status=connector_status(status),
                error_code=normalised_error_code(error_code),
                vendor_error_code=kwargs.get("vendor_error_code"),
                station_timestamp=parse_time(kwargs["timestamp"]) if kwargs.get("timestamp") else None,
                received_at=self.stations.clock.now(),
            )
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": await self.stations.authorize(id_tag)})

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], transaction_id: int | None = None, **kwargs: Any
    ) -> call_result.MeterValues:
        tx = await self.stations.v16_transaction(self.station_id, transaction_id) if transaction_id else None
        await self.stations.publish(
            self.stations.reports(self.station_id, connector_id, 1, tx[0] if tx else None, readings(meter_value))
        )
        return call_result.MeterValues()

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs: Any
    ) -> call_result.StartTransaction:
        status = await self.stations.authorize(id_tag)
        # The transaction happened whatever our answer (it may have been started offline), so it
        # is recorded and published; a non-Accepted idTagInfo lets the station stop it (§5.18).
        ocpp_id = await self.stations.start_v16(
            self.station_id, connector_id, id_tag, meter_start, parse_time(timestamp)
        )
        return call_result.StartTransaction(transaction_id=ocpp_id, id_tag_info={"status": status})

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs: Any
    ) -> call_result.StopTransaction:
        await self.stations.stop_v16(
            self.station_id,
            transaction_id,
            meter_stop,
            parse_time(timestamp),
            kwargs.get("reason"),
            kwargs.get("id_tag"),
            readings(kwargs.get("transaction_data") or []),
        )
        id_tag = kwargs.get("id_tag")
        if id_tag:
            return call_result.StopTransaction(id_tag_info={"status": await self.stations.authorize(id_tag)})
        return call_result.StopTransaction()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, status: str) -> call_result.FirmwareStatusNotification:
        await self.stations.publish(
            [FirmwareStatusChanged(station_id=self.station_id, status=status, received_at=self.stations.clock.now())]
        )
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status(self, status: str) -> call_result.DiagnosticsStatusNotification:
        await self.stations.publish(
            [LogStatusChanged(station_id=self.station_id, status=status, received_at=self.stations.clock.now())]
        )
        return call_result.DiagnosticsStatusNotification()

    async def sync_local_list(self) -> None:
        version, rows = await self.stations.local_list()
        if not rows:
            return
        current = (await self.ask(call.GetLocalListVersion())).list_version
        if current == -1 or current == version:
            return  # §5.10: -1 = no local list on this station
        result = await self.ask(
            await _local_list(self, SendLocalList(station_id=self.station_id, version=version, from_tokens=True))
        )
        log.info("%s: local list version %d sent: %s", self.station_id, version, result.status)


# --- outbound: contract command -> OCPP 1.6 call -------------------------------------------------


async def _set_charging_profile(cs: CentralSystem16, cmd: SetChargingProfile) -> call.SetChargingProfile:
    schedule = schedule_for_station(cmd.unit, cmd.periods, cmd.stack_level, cs.capabilities)
    profile: dict[str, Any] = {
        "charging_profile_id": cmd.profile_id,
        "stack_level": schedule.stack_level,
        "charging_profile_purpose": _PURPOSES[cmd.purpose],
        "charging_profile_kind": "Absolute",
        "charging_schedule": {
            "start_schedule": wire_time(cmd.start),
            "charging_rate_unit": schedule.unit.value,
            "charging_schedule_period": [
                {
                    "start_period": p.start_offset_s,
                    "limit": _limit(p.limit, schedule.unit),
                    **({"number_phases": p.phases} if p.phases else {}),
                }
                for p in schedule.periods
            ],
        },
    }
    if cmd.purpose == ProfilePurpose.TX:
        if cmd.transaction_id is None:
            raise CannotTranslate("a TxProfile needs a transaction_id (OCPP 1.6 §3.13.3)")
        ocpp_id = await cs.stations.v16_ocpp_id(cs.station_id, cmd.transaction_id)
        if ocpp_id is None:
            raise CannotTranslate(f"transaction {cmd.transaction_id} is unknown on this station")
        profile["transaction_id"] = ocpp_id
    # The station-wide maximum goes to connector 0 (§5.16.1); otherwise EVSE n is connector n.
    connector = 0 if cmd.purpose == ProfilePurpose.STATION_MAX else cmd.evse_id
    return call.SetChargingProfile(connector_id=connector, cs_charging_profiles=profile)


def _limit(value: float, unit: ChargingRateUnit) -> float:
    return round(value, 1) if unit == ChargingRateUnit.AMPERES else float(int(value))


async def _clear_charging_profile(cs: CentralSystem16, cmd: ClearChargingProfile) -> call.ClearChargingProfile:
    return call.ClearChargingProfile(
        id=cmd.profile_id,
        connector_id=cmd.evse_id,
        charging_profile_purpose=_PURPOSES[cmd.purpose] if cmd.purpose else None,
        stack_level=cmd.stack_level,
    )


async def _remote_start(cs: CentralSystem16, cmd: RemoteStart) -> call.RemoteStartTransaction:
    return call.RemoteStartTransaction(id_tag=cmd.id_token, connector_id=cmd.evse_id)


async def _remote_stop(cs: CentralSystem16, cmd: RemoteStop) -> call.RemoteStopTransaction:
    ocpp_id = await cs.stations.v16_ocpp_id(cs.station_id, cmd.transaction_id)
    if ocpp_id is None:
        raise CannotTranslate(f"transaction {cmd.transaction_id} is unknown on this station")
    return call.RemoteStopTransaction(transaction_id=ocpp_id)


async def _reset(cs: CentralSystem16, cmd: Reset) -> call.Reset:
    return call.Reset(type=cmd.kind.value)


async def _change_availability(cs: CentralSystem16, cmd: ChangeAvailability) -> call.ChangeAvailability:
    return call.ChangeAvailability(connector_id=cmd.evse_id, type="Operative" if cmd.operative else "Inoperative")


async def _unlock_connector(cs: CentralSystem16, cmd: UnlockConnector) -> call.UnlockConnector:
    return call.UnlockConnector(connector_id=cmd.evse_id)


# §5.17 MessageTrigger: the 2.0.1 names of the same message, or its nearest 1.6 equivalent.
_TRIGGERS = {"LogStatusNotification": "DiagnosticsStatusNotification", "TransactionEvent": "MeterValues"}


async def _trigger_message(cs: CentralSystem16, cmd: TriggerMessage) -> call.TriggerMessage:
    return call.TriggerMessage(requested_message=_TRIGGERS.get(cmd.message, cmd.message), connector_id=cmd.evse_id)


async def _reserve_now(cs: CentralSystem16, cmd: ReserveNow) -> call.ReserveNow:
    number = await cs.stations.reservation_number(cs.station_id, cmd.reservation_id)
    return call.ReserveNow(
        connector_id=cmd.evse_id, expiry_date=wire_time(cmd.expires_at), id_tag=cmd.id_token, reservation_id=number
    )


async def _cancel_reservation(cs: CentralSystem16, cmd: CancelReservation) -> call.CancelReservation:
    return call.CancelReservation(
        reservation_id=await cs.stations.reservation_number(cs.station_id, cmd.reservation_id)
    )


async def _update_firmware(cs: CentralSystem16, cmd: UpdateFirmware) -> call.UpdateFirmware:
    return call.UpdateFirmware(
        location=cmd.location,
        retrieve_date=wire_time(cmd.retrieve_at),
        retries=cmd.retries,
        retry_interval=cmd.retry_interval_s,
    )


async def _local_list(cs: CentralSystem16, cmd: SendLocalList) -> call.SendLocalList:
    """§5.15: a Full list replaces the station's, a Differential one updates the entries named."""
    if cmd.from_tokens:
        version, rows = await cs.stations.local_list()
        entries = [(r.id_token, r.status, r.expires_at) for r in rows]
        version, full = version or cmd.version, True
    else:
        entries = [(e.id_token, e.status, e.expires_at) for e in cmd.entries]
        version, full = cmd.version, cmd.full
    return call.SendLocalList(
        list_version=version,
        update_type="Full" if full else "Differential",
        local_authorization_list=[
            {
                "id_tag": token,
                "id_tag_info": {"status": status, **({"expiry_date": wire_time(expires)} if expires else {})},
            }
            for token, status, expires in entries
        ],
    )


async def _get_local_list_version(cs: CentralSystem16, cmd: GetLocalListVersion) -> call.GetLocalListVersion:
    return call.GetLocalListVersion()


async def _clear_cache(cs: CentralSystem16, cmd: ClearCache) -> call.ClearCache:
    return call.ClearCache()


async def _get_composite_schedule(cs: CentralSystem16, cmd: GetCompositeSchedule) -> call.GetCompositeSchedule:
    return call.GetCompositeSchedule(
        connector_id=cmd.evse_id, duration=cmd.duration_s, charging_rate_unit=cmd.unit.value if cmd.unit else None
    )


async def _get_diagnostics(cs: CentralSystem16, cmd: GetLog) -> call.GetDiagnostics:
    if cmd.log_type != "DiagnosticsLog":
        # Security logs came with the 1.6 security whitepaper's GetLog, not with 1.6J itself.
        raise CannotTranslate(f"{cmd.log_type} is not available from an OCPP 1.6 station (GetDiagnostics only)")
    return call.GetDiagnostics(
        location=cmd.location,
        retries=cmd.retries,
        retry_interval=cmd.retry_interval_s,
        start_time=wire_time(cmd.oldest) if cmd.oldest else None,
        stop_time=wire_time(cmd.latest) if cmd.latest else None,
    )


async def _get_configuration(cs: CentralSystem16, cmd: GetConfiguration) -> call.GetConfiguration:
    return call.GetConfiguration(key=[k.variable for k in cmd.keys])


async def _change_configuration(cs: CentralSystem16, cmd: SetConfiguration) -> call.ChangeConfiguration:
    return call.ChangeConfiguration(key=cmd.variable, value=cmd.value)


CentralSystem16.COMMANDS = {
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
    SendLocalList: _local_list,
    GetLocalListVersion: _get_local_list_version,
    ClearCache: _clear_cache,
    GetCompositeSchedule: _get_composite_schedule,
    GetLog: _get_diagnostics,
    GetConfiguration: _get_configuration,
    SetConfiguration: _change_configuration,
}


# --- answers that carry data ---------------------------------------------------------------------


async def _firmware_result(
    cs: CentralSystem16, cmd: UpdateFirmware, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    # §5.19: UpdateFirmware.conf is empty; progress follows as FirmwareStatusNotification.
    return CommandOutcome.ACCEPTED, None


async def _diagnostics_result(
    cs: CentralSystem16, cmd: GetLog, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    # §6.31: no fileName = no diagnostics available; the upload is reported by DiagnosticsStatusNotification.
    return CommandOutcome.ACCEPTED, result.file_name or "no diagnostics available"


async def _list_version_result(
    cs: CentralSystem16, cmd: GetLocalListVersion, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    if result.list_version == -1:
        return CommandOutcome.NOT_SUPPORTED, "the station has no local authorization list (listVersion -1)"
    return CommandOutcome.ACCEPTED, f"listVersion {result.list_version}"


async def _composite_result(
    cs: CentralSystem16, cmd: GetCompositeSchedule, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    outcome, detail = outcome_of(result.status)
    schedule = result.charging_schedule
    if outcome == CommandOutcome.ACCEPTED and schedule:
        start = result.schedule_start or schedule.get("start_schedule")
        await cs.stations.publish(
            [
                CompositeScheduleReported(
                    station_id=cs.station_id,
                    command_id=command_id or "",
                    evse_id=result.connector_id or cmd.evse_id,
                    unit=ChargingRateUnit(schedule["charging_rate_unit"]),
                    start=parse_time(start) if start else cs.stations.clock.now(),
                    duration_s=int(schedule.get("duration") or cmd.duration_s),
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
    return outcome, detail


async def _configuration_result(
    cs: CentralSystem16, cmd: GetConfiguration, result: Any, command_id: str | None
) -> tuple[CommandOutcome, str | None]:
    values = [
        ConfigurationValue(variable=kv["key"], value=kv.get("value"), status="Accepted", readonly=kv.get("readonly"))
        for kv in result.configuration_key or []
    ]
    values += [ConfigurationValue(variable=k, status="UnknownVariable") for k in result.unknown_key or []]
    await cs.stations.publish(
        [
            ConfigurationReported(
                station_id=cs.station_id,
                command_id=command_id or "",
                values=tuple(values),
                received_at=cs.stations.clock.now(),
            )
        ]
    )
    return CommandOutcome.ACCEPTED, None


CentralSystem16.RESULTS = {
    UpdateFirmware: _firmware_result,
    GetLog: _diagnostics_result,
    GetLocalListVersion: _list_version_result,
    GetCompositeSchedule: _composite_result,
    GetConfiguration: _configuration_result,
}
