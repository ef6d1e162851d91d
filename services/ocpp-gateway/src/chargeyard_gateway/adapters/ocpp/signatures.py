"""The `ocpp` library's handler signature look-up, remembered per handler function.

Why: for every incoming Call the library's ChargePoint runs `inspect.signature(handler)` on the
`@on` handler (and again on the `@after` one) to learn whether it takes `call_unique_id`; under
load that was ~3.5 % of the gateway's samples (bench/README.md). A handler's signature never
changes, and the bound methods of every session of one class share one function, so it is
computed once per function. `install()` gives the library's charge_point module an `inspect` that
answers `signature` from the cache and everything else from the real module (process-wide, like
casing.install and schemas.install next to it in the server).
"""

from __future__ import annotations

import inspect
from typing import Any

from ocpp import charge_point

_signatures: dict[Any, inspect.Signature] = {}


def signature(handler: Any) -> inspect.Signature:
    function = getattr(handler, "__func__", None)
    if function is None or not inspect.ismethod(handler):
        return inspect.signature(handler)  # not a bound method: nothing shared to remember
    found = _signatures.get(function)
    if found is None:
        # The bound method's own signature (without `self`), as the library would compute it.
        found = _signatures[function] = inspect.signature(handler)
    return found


class _Inspect:
    """The `inspect` module with `signature` remembered."""

    signature = staticmethod(signature)

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)


def install() -> None:
    charge_point.inspect = _Inspect()  # type: ignore[assignment]
