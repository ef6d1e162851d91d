"""Pure planning domain: MILP charging plans (no I/O, no clock, no framework)."""

from .checker import Violation, check_plan
from .planner import (
    Board,
    ChargePlan,
    Connector,
    Demand,
    Plan,
    PlanRequest,
    SolverName,
    Strategy,
    available_solvers,
    plan,
)

__all__ = [
    "Board",
    "ChargePlan",
    "Connector",
    "Demand",
    "Plan",
    "PlanRequest",
    "SolverName",
    "Strategy",
    "Violation",
    "available_solvers",
    "check_plan",
    "plan",
]
