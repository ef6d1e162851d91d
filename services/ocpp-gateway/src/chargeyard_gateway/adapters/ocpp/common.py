"""What both OCPP versions' central-system sessions share: acceptance, metrics, command execution.

Each version module (v16.py, v201.py) holds one ChargePoint subclass whose `@on` handlers are
the inbound routing table (action -> handler; the ocpp library validates every payload against
the official JSON schemas both ways) and one `COMMANDS` table, the outbound routing table
(contract command -> translator to that version's call). Handlers only translate; what happens
with the data is service_layer/stations.py's business.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from chargeyard_contracts.base import OcppVersion
from chargeyard_contracts.commands import CommandOutcome, StationCommand
from chargeyard_contracts.stations import EvseInfo, StationCapabilities
from jsonschema.exceptions import ValidationError as SchemaViolation
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError, SecurityError
from ocpp.messages import Call, CallError, CallResult
from websockets.exceptions import ConnectionClosed

from ... import metrics
from ...config import Settings
from ...domain import journal as journal_rules
from ...domain.profiles import CannotTranslate
from ...service_layer.journal import Journal
from ...service_layer.stations import Stations

log = logging.getLogger(__name__)

Translator = Callable[[Any, Any], Awaitable[Any]]
"""(session, contract command) -> the version's call payload; raises CannotTranslate."""
ResultHandler = Callable[[Any, Any, Any, "str | None"], Awaitable[tuple[CommandOutcome, "str | None"]]]
"""(session, contract command, call result, command id) -> outcome, for answers that carry data
(GetCompositeSchedule, GetConfiguration, GetLocalListVersion) rather than only a status."""


class CallErrorCodes:
    """The CallError codes of one OCPP-J version: the two spell some differently, and 2.0.1 added
    codes for the RPC frame itself (OCPP-J 1.6 §4.2.3 table; OCPP 2.0.1 Part 4 §4.3)."""

    def __init__(
        self, *, format_violation: str, occurrence: str, rpc_framework: str, message_type_not_supported: str
    ) -> None:
        self.format_violation = format_violation
        self.occurrence = occurrence
        self.rpc_framework = rpc_framework
        self.message_type_not_supported = message_type_not_supported

    def for_schema(self, violation: SchemaViolation) -> str:
        """A payload that breaks the version's JSON schema, by the kind of rule it broke."""
        kind = violation.validator
        if kind in ("type", "maxLength", "minLength"):
            return "TypeConstraintViolation"  # the field's data type (CiString20Type, integer ...)
        if kind == "required":
            return "ProtocolError"  # "Payload for Action is incomplete"
        if kind in ("minItems", "maxItems", "minProperties", "maxProperties"):
            return self.occurrence
        if kind in (
            "enum",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "pattern",
            "multipleOf",
            "format",
            "const",
        ):
            return "PropertyConstraintViolation"  # "at least one field contains an invalid value"
        return self.format_violation  # additionalProperties and the rest: not the action's PDU


V16_CODES = CallErrorCodes(
    format_violation="FormationViolation",
    occurrence="OccurenceConstraintViolation",
    # 1.6 has no code for a broken RPC frame; FormationViolation is the nearest.
    rpc_framework="FormationViolation",
    message_type_not_supported="FormationViolation",
)
V2_CODES = CallErrorCodes(
    format_violation="FormatViolation",
    occurrence="OccurrenceConstraintViolation",
    rpc_framework="RpcFrameworkError",
    message_type_not_supported="MessageTypeNotSupported",
)


class VersionCallError(OCPPError):
    """A CallError with the code the station's version prescribes."""

    def __init__(self, code: str, description: str, cause: str) -> None:
        super().__init__(description, {"cause": cause[:500]})
        self.code = code


# Answers that mean "done": Unlocked (UnlockConnector), Scheduled (Reset / ChangeAvailability
# during a transaction: it happens when the transaction ends, OCPP 1.6 §5.2 / 2.0.1 G03),
# RebootRequired (a configuration change is stored, 1.6 §5.3 / 2.0.1 B05) and AcceptedCanceled
# (2.0.1 N01: a new log upload replaced a running one).
_ACCEPTED = {"Accepted", "Unlocked", "Scheduled", "RebootRequired", "AcceptedCanceled"}
_NOT_SUPPORTED = {"NotSupported", "NotImplemented"}


def outcome_of(status: Any) -> tuple[CommandOutcome, str | None]:
    value = str(getattr(status, "value", status))
    if value in _ACCEPTED:
        return CommandOutcome.ACCEPTED, None if value == "Accepted" else value
    if value in _NOT_SUPPORTED:
        return CommandOutcome.NOT_SUPPORTED, value
    return CommandOutcome.REJECTED, value


def parse_time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    # A station that sends no offset means UTC (OCPP 1.6 §3.14 / 2.0.1 Part 2 §2.1.5 require UTC).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def wire_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_FRAMES: Mapping[int, type[Call | CallResult | CallError]] = {2: Call, 3: CallResult, 4: CallError}
"""OCPP-J MessageTypeId -> the library's frame class (what `ocpp.messages.unpack` builds)."""


class CentralSystemSession:
    """Mixed into ocpp's version ChargePoint classes (which come second in the bases)."""

    version: ClassVar[OcppVersion]
    COMMANDS: ClassVar[Mapping[type, Translator]]
    RESULTS: ClassVar[Mapping[type, ResultHandler]] = {}
    ERROR_CODES: ClassVar[CallErrorCodes] = V2_CODES
    KNOWN_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    """Every action of the version, either direction: one we do not handle is NotSupported,
    an unknown name NotImplemented (OCPP-J 1.6 §4.2.3 / 2.0.1 Part 4 §4.3)."""

    def __init__(
        self,
        station_id: str,
        connection: Any,
        *,
        stations: Stations,
        settings: Settings,
        accepted: bool,
        capabilities: StationCapabilities | None,
        on_accepted: Callable[[Any], Awaitable[None]],
        journal: Journal | None = None,
    ) -> None:
        super().__init__(station_id, connection, response_timeout=settings.command_timeout_s)  # type: ignore[call-arg]
        self.station_id = station_id
        self.stations = stations
        self.settings = settings
        self.accepted = accepted
        self.capabilities = capabilities or StationCapabilities(ocpp_version=self.version)
        self._on_accepted = on_accepted
        self._journal = journal
        self._open_calls: dict[tuple[str, str], str] = {}
        """(direction of the Call, unique id) -> action, until its result is journalled."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_heard = time.monotonic()
        """Wall (monotonic) time of the last frame from the station: the silence watchdog's input."""

    # --- plumbing over the ocpp library ---------------------------------------------------------

    async def route_message(self, raw_msg: str) -> None:
        self.last_heard = time.monotonic()
        try:
            message: Any = json.loads(raw_msg)
        except ValueError:
            message = None
        self._journal_frame("in", raw_msg, message)
        refusal = self._frame_error(message)
        if refusal is not None:
            if refusal:
                await self._send(refusal)
            return
        # What ocpp's ChargePoint.route_message does, from the frame parsed above: the library's
        # own would parse it again (`unpack`; bench/README.md, ninth round).
        msg = _FRAMES[message[0]](*message[1:])
        if not isinstance(msg, Call):
            self._response_queue.put_nowait(msg)  # type: ignore[attr-defined]
            return
        # The name is the station's to choose: one label value per made-up name would grow the
        # metric (and the label cache) without bound.
        metrics.ocpp_messages(msg.action if msg.action in self.KNOWN_ACTIONS else "unknown", "received").inc()
        try:
            await self._handle_call(msg)
        except OCPPError as error:
            log.info("%s: %s %s answered %s: %s", self.station_id, msg.action, msg.unique_id, error.code, error)
            await self._send(msg.create_call_error(error).to_json())

    def _frame_error(self, message: Any) -> str | None:
        """None for a well-formed OCPP-J frame; otherwise the CallError to send ("" = none: a broken
        result is never answered, OCPP-J §4.2.3 answers Calls only)."""
        codes = self.ERROR_CODES
        if not isinstance(message, list) or not message or not isinstance(message[0], int):
            # OCPP 2.0.1 Part 4 §4.2.3: when the messageId cannot be read, the CallError's is "-1".
            unique_id = (
                message[1] if isinstance(message, list) and len(message) > 1 and isinstance(message[1], str) else "-1"
            )
            cause = "not JSON" if message is None else "not an OCPP-J array [MessageTypeId, MessageId, ...]"
            return self._error_frame(unique_id, codes.rpc_framework, cause)
        unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) and message[1] else None
        if message[0] not in (2, 3, 4):
            return self._error_frame(
                unique_id or "-1", codes.message_type_not_supported, f"MessageTypeId {message[0]} is not 2, 3 or 4"
            )
        if message[0] != 2:
            if unique_id is None or len(message) != (3 if message[0] == 3 else 5):
                log.warning("%s: malformed response frame dropped", self.station_id)
                return ""
            return None
        if unique_id is None or len(unique_id) > 36:
            return self._error_frame("-1", codes.rpc_framework, "MessageId is missing or longer than 36 characters")
        if len(message) != 4 or not isinstance(message[2], str):
            return self._error_frame(unique_id, codes.rpc_framework, "a Call is [2, MessageId, Action, Payload]")
        if not isinstance(message[3], dict):
            return self._error_frame(unique_id, codes.format_violation, "the payload must be a JSON object")
        self._open_calls[("in", unique_id)] = message[2]
        return None

    @staticmethod
    def _error_frame(unique_id: str, code: str, cause: str) -> str:
        return json.dumps([4, unique_id, code, cause, {}], separators=(",", ":"))

    async def _send(self, message: str) -> None:
        try:
            parsed: Any = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and len(parsed) > 2 and parsed[0] == 2:
            self._open_calls[("out", str(parsed[1]))] = str(parsed[2])
        self._journal_frame("out", message, parsed)
        await super()._send(message)  # type: ignore[misc]

    def _journal_frame(self, direction: str, frame: str, parsed: Any) -> None:
        action = None
        if isinstance(parsed, list) and len(parsed) > 1 and parsed[0] in (3, 4):
            # A result answers a Call that went the other way.
            action = self._open_calls.pop(("out" if direction == "in" else "in", str(parsed[1])), None)
        if self._journal is not None:
            self._journal.record(journal_rules.entry(self.station_id, direction, frame, parsed, action))

    async def _handle_call(self, msg: Any) -> Any:
        if msg.action not in self.route_map:  # type: ignore[attr-defined]
            if msg.action in self.KNOWN_ACTIONS:
                # A CSMS-to-station action sent by a station, or one this gateway does not serve.
                raise NotSupportedError(details={"cause": f"{msg.action} is not supported by this central system"})
            # The library sends nothing for an unknown 2.1 action; every Call deserves an answer.
            raise OcppNotImplemented(details={"cause": f"{msg.action} is not handled by this central system"})
        if not self.accepted and msg.action != "BootNotification":
            # OCPP 2.0.1 B02.FR.09 / 1.6 §4.2: until a station is accepted it may only boot.
            raise SecurityError(details={"cause": "the station is not accepted; send BootNotification"})
        started = time.perf_counter()
        try:
            return await super()._handle_call(msg)  # type: ignore[misc]
        except OCPPError as exc:
            raise self._version_error(exc) from None
        finally:
            metrics.ocpp_call_seconds(msg.action, "received").observe(time.perf_counter() - started)

    def _version_error(self, exc: OCPPError) -> OCPPError:
        """The library raises 2.0.1 spellings for every version and blurs schema rules together;
        the station gets the code its own version prescribes."""
        details = exc.details if isinstance(exc.details, dict) else {}
        if isinstance(details.get("ocpp_message"), CallResult):
            # Our own answer failed its schema: our bug, not the station's.
            return VersionCallError(
                "InternalError", "the central system built an invalid response", str(details.get("cause"))
            )
        violation = exc.__context__ if isinstance(exc.__context__, SchemaViolation) else None
        if violation is not None:
            where = "/".join(str(p) for p in violation.absolute_path) or "payload"
            return VersionCallError(
                self.ERROR_CODES.for_schema(violation),
                "payload breaks the action's schema",
                f"{where}: {violation.message}",
            )
        if exc.code in ("FormatViolation", "FormationViolation"):
            return VersionCallError(self.ERROR_CODES.format_violation, exc.description, str(details.get("cause")))
        if exc.code in ("OccurrenceConstraintViolation", "OccurenceConstraintViolation"):
            return VersionCallError(self.ERROR_CODES.occurrence, exc.description, str(details.get("cause")))
        if details.get("ocpp_message") is not None:
            return VersionCallError(exc.code, exc.description, str(details.get("cause")))
        return exc

    async def call(
        self, payload: Any, suppress: bool = True, unique_id: Any = None, skip_schema_validation: bool = False
    ) -> Any:
        action = type(payload).__name__
        metrics.ocpp_messages(action, "sent").inc()
        started = time.perf_counter()
        try:
            return await super().call(payload, suppress, unique_id, skip_schema_validation)  # type: ignore[misc]
        finally:
            metrics.ocpp_call_seconds(action, "sent").observe(time.perf_counter() - started)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Work that must not hold up the receive loop (calls to the station wait for its answer,
        which only that loop can read)."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.station_id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: %s failed", self.station_id, task.get_name(), exc_info=task.exception())

    async def start(self) -> None:
        """The receive loop (ocpp's ChargePoint.start), until the websocket closes."""
        await super().start()  # type: ignore[misc]

    async def close(self) -> None:
        await self._connection.close()  # type: ignore[attr-defined]

    def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- boot ------------------------------------------------------------------------------------

    async def after_accepted_boot(self) -> None:
        await self._on_accepted(self)
        try:
            caps, evses = await self.learn_capabilities()
        except (TimeoutError, OCPPError, ConnectionClosed) as exc:
            # Tolerated by design: the contract defaults are safe (A, 24 periods, stack 8, 3 phases).
            log.warning("%s: capabilities not learned (%r); using defaults", self.station_id, exc)
            caps, evses = StationCapabilities(ocpp_version=self.version), ()
        self.capabilities = caps
        await self.stations.registered(self.station_id, caps, evses)
        try:
            await self.sync_local_list()
        except (TimeoutError, OCPPError, ConnectionClosed, CannotTranslate) as exc:
            # The station still authorizes online through Authorize; the next boot tries again.
            log.warning("%s: local authorization list not synchronised (%r)", self.station_id, exc)

    async def sync_local_list(self) -> None:
        """Send the gateway's tokens as the station's local list when its version differs
        (OCPP 1.6 §3.4.1 / 2.0.1 D01); stations without a local list skip this."""

    async def learn_capabilities(self) -> tuple[StationCapabilities, tuple[EvseInfo, ...]]:
        raise NotImplementedError

    async def ask(self, payload: Any) -> Any:
        """A call during boot: bounded by capability_timeout_s, CallErrors raised."""
        return await asyncio.wait_for(self.call(payload, suppress=False), self.settings.capability_timeout_s)

    # --- commands --------------------------------------------------------------------------------

    async def execute(
        self, command: StationCommand, command_id: str | None = None
    ) -> tuple[CommandOutcome, str | None]:
        translate = self.COMMANDS.get(type(command))
        if translate is None:
            return CommandOutcome.NOT_SUPPORTED, f"{command.command} is not supported for {self.version.value} yet"
        try:
            request = await translate(self, command)
        except CannotTranslate as exc:
            return CommandOutcome.FAILED, str(exc)
        try:
            result = await self.call(request, suppress=False)
        except TimeoutError:
            return CommandOutcome.TIMED_OUT, f"no answer within {self.settings.command_timeout_s:g} s"
        except ConnectionClosed:
            return CommandOutcome.OFFLINE, "the station disconnected during delivery"
        except (OcppNotImplemented, NotSupportedError) as exc:
            return CommandOutcome.NOT_SUPPORTED, f"{exc.code}: {exc.description}"
        except OCPPError as exc:
            return CommandOutcome.FAILED, f"{exc.code}: {exc.description} {exc.details or ''}".strip()
        on_result = self.RESULTS.get(type(command))
        if on_result is not None:
            return await on_result(self, command, result, command_id)
        outcome, detail = outcome_of(result.status)
        info = getattr(result, "status_info", None)
        if info and outcome != CommandOutcome.ACCEPTED:
            detail = f"{detail}: {info.get('reason_code')} {info.get('additional_info') or ''}".strip()
        return outcome, detail
