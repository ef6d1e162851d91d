"""The `ocpp` library's camelCase <-> snake_case conversion of payload keys, with each key's
conversion remembered.

Why: the library converts every key of every message in both directions with two regular
expression substitutions (or ten string replacements) per key, every time; under load that was
~7 % of the event loop's samples (bench/README.md). OCPP payloads use a few hundred distinct keys,
so the conversion of each is computed once. The key functions call the library's own functions on
a one-key dict, so the result is the library's, by construction; `install()` swaps the
module-level functions the library's ChargePoint looks up at call time (process-wide, like the
schema validation switches next to it in the server).
"""

from __future__ import annotations

import functools
from typing import Any

from ocpp import charge_point

_library_to_snake = charge_point.camel_to_snake_case
_library_to_camel = charge_point.snake_to_camel_case


@functools.lru_cache(maxsize=4096)
def _snake_key(key: str) -> str:
    return next(iter(_library_to_snake({key: None})))


@functools.lru_cache(maxsize=4096)
def _camel_key(key: str) -> str:
    return next(iter(_library_to_camel({key: None})))


_CONTAINERS = (dict, list)


# Only containers are descended into; leaves (most values: strings, numbers) are taken as they
# are without a call each: a MeterValues of seven sampled values made 46 calls, now 10.
def camel_to_snake_case(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            _snake_key(key): camel_to_snake_case(value) if isinstance(value, _CONTAINERS) else value
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [camel_to_snake_case(value) if isinstance(value, _CONTAINERS) else value for value in data]
    return data


def snake_to_camel_case(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            _camel_key(key): snake_to_camel_case(value) if isinstance(value, _CONTAINERS) else value
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [snake_to_camel_case(value) if isinstance(value, _CONTAINERS) else value for value in data]
    return data


def install() -> None:
    charge_point.camel_to_snake_case = camel_to_snake_case
    charge_point.snake_to_camel_case = snake_to_camel_case
