"""The gateway's faster stand-ins for `ocpp` library internals give the library's results."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import pytest
from chargeyard_gateway.adapters.ocpp import casing, schemas, signatures
from chargeyard_gateway.adapters.ocpp.v16 import CentralSystem16
from chargeyard_gateway.adapters.ocpp.v201 import CentralSystem201
from ocpp import messages as ocpp_messages

SCHEMAS = Path(ocpp.__file__).parent


def every_property_name(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        names |= set(node.get("properties", {}))
        for value in node.values():
            names |= every_property_name(value)
    elif isinstance(node, list):
        for value in node:
            names |= every_property_name(value)
    return names


@pytest.mark.parametrize("version", ["v16", "v201"])
def test_key_conversion_is_the_librarys_for_every_key_of_every_schema(version: str) -> None:
    keys = set()
    for path in (SCHEMAS / version / "schemas").glob("*.json"):
        keys |= every_property_name(json.loads(path.read_text(encoding="utf-8-sig")))
    assert len(keys) > 90
    payload = {key: [{key: 1}] for key in sorted(keys)}
    assert casing.camel_to_snake_case(payload) == casing._library_to_snake(payload)
    snake_payload = casing._library_to_snake(payload)
    assert casing.snake_to_camel_case(snake_payload) == casing._library_to_camel(snake_payload)


def meter_values(**changes: Any) -> dict[str, Any]:
    sample = {"value": "1", "measurand": "Energy.Active.Import.Register", "unit": "Wh"} | changes
    return {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [sample]}]}


@pytest.mark.parametrize(
    ("payload", "validator"),
    [
        (meter_values(), None),
        (meter_values(unit="Lightyears"), "enum"),
        (meter_values(value=1), "type"),
        (meter_values(extra=1), "additionalProperties"),
        ({"meterValue": [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}]}, "required"),
    ],
)
def test_compiled_validation_accepts_and_refuses_as_jsonschema_does(
    payload: dict[str, Any], validator: str | None
) -> None:
    compiled = schemas.get_validator(2, "MeterValues", "1.6")
    reference = ocpp_messages.get_validator(2, "MeterValues", "1.6")
    assert compiled.reference is reference or compiled.schema == reference.schema
    if validator is None:
        compiled.validate(payload)
        reference.validate(payload)
        return
    with pytest.raises(jsonschema.ValidationError) as raised:
        compiled.validate(payload)
    assert raised.value.validator == validator  # what the library maps to the version's CallError


@pytest.mark.parametrize("session_class", [CentralSystem16, CentralSystem201])
def test_remembered_handler_signatures_are_the_librarys(session_class: type[Any]) -> None:
    # Every @on / @after handler of the session class, bound as the library binds them.
    session = object.__new__(session_class)
    handlers = [
        getattr(session, name)
        for name in dir(session_class)
        if hasattr(getattr(session_class, name), "_on_action") or hasattr(getattr(session_class, name), "_after_action")
    ]
    assert len(handlers) > 8
    for handler in handlers:
        assert signatures.signature(handler) == inspect.signature(handler)
        assert signatures.signature(handler) is signatures.signature(
            getattr(object.__new__(session_class), handler.__name__)
        )
    assert signatures.signature(len) == inspect.signature(len)  # not a method: asked afresh


def test_the_installed_inspect_answers_everything_else_from_the_real_module() -> None:
    shim = signatures._Inspect()
    assert shim.isawaitable is inspect.isawaitable
    assert shim.signature(CentralSystem16.on_heartbeat) == inspect.signature(CentralSystem16.on_heartbeat)
