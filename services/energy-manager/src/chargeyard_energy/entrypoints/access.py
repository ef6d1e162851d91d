"""Who may call which route: the reservation API's roles (its domain/access.py), checked by
chargeyard_platform.auth. Drivers have no business here: they reach the energy manager only
through the reservation API and the scheduler."""

from __future__ import annotations

from typing import Annotated

from chargeyard_platform.auth import (
    ADMINISTRATOR,
    FLEET_MANAGER,
    MAINTAINER,
    OPERATOR_ROLES,
    SITE_OPERATOR,
    Caller,
    requires,
)
from fastapi import Depends

READ = requires(OPERATOR_ROLES, action="read sites, groups, prices and commands")
MANAGE = requires({ADMINISTRATOR, SITE_OPERATOR}, action="change sites, groups, parties, prices or roll out firmware")
COMMAND = requires({ADMINISTRATOR, SITE_OPERATOR, MAINTAINER}, action="send commands to stations")
PRIORITY = requires({ADMINISTRATOR, SITE_OPERATOR, FLEET_MANAGER}, action="ask for a higher charging priority")

Manager = Annotated[Caller, Depends(MANAGE)]
Commander = Annotated[Caller, Depends(COMMAND)]
