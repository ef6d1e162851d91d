"""Schema validation of every OCPP message, compiled: the same official JSON schemas the `ocpp`
library ships, checked by code that fastjsonschema generates from them instead of jsonschema's
interpreter.

Why: profiled under load (bench/README.md), jsonschema's Draft4Validator was the largest single
cost of a MeterValues on the event loop (~17 % of its samples: walking the schema, building
error iterators and evolved validators for every nested object). fastjsonschema compiles each
schema once into plain Python and is an order of magnitude faster on valid payloads.

Every message is still validated. Only valid payloads take the compiled path: when it finds a
payload invalid, the library's own jsonschema validator runs and raises its error, so the CallError
a station gets (TypeConstraintViolation, FormationViolation, ProtocolError, ... as the `ocpp`
library maps them per version) is exactly what it was. The library looks validators up through
`ocpp.messages.get_validator` at call time; `install()` wraps that function (process-wide, like
the library's own ASYNC_VALIDATION switch that the server sets next to it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import fastjsonschema
from ocpp import messages as ocpp_messages


class CompiledValidator:
    """A `Draft4Validator` stand-in: `validate(payload)` raises what jsonschema would."""

    def __init__(self, reference: Any) -> None:
        self.reference = reference
        self.schema = reference.schema
        self._check: Callable[[Any], Any] = fastjsonschema.compile(reference.schema)

    def validate(self, payload: Any) -> None:
        try:
            self._check(payload)
        except (fastjsonschema.JsonSchemaException, TypeError):
            # jsonschema decides: it raises the error the library maps to a CallError, and where
            # the two differ (multipleOf on the Decimal numbers of 1.6 schedules) its verdict stands.
            self.reference.validate(payload)


_library_get_validator = ocpp_messages.get_validator


@functools.cache
def get_validator(
    message_type_id: int, action: str, ocpp_version: str, parse_float: Callable[[str], Any] = float
) -> CompiledValidator:
    return CompiledValidator(_library_get_validator(message_type_id, action, ocpp_version, parse_float))


def install() -> None:
    ocpp_messages.get_validator = get_validator
