"""Issue 6, must show 5: a simulated day through `make run`'s services on the simulated clock gives
the same metrics as `chargeyard-sim` within a stated tolerance.

The inputs are chargeyard-sim's own formats (tests/e2e/data/): four sessions on three 11 kW
stations over two hours of the sample day, a 22 kW site (three cars want 33 kW, so the limit binds
for most of the morning), the sample day's prices and green shares. chargeyard-sim replays them in
this process; then chargeyard_devstack.simday plays them against Tansu and every service as
processes (SQLite, as `make run`) on a simulated clock at 60x, with simulated OCPP stations (1.6J
and 2.0.1): a reservation and a car at each arrival, the car unplugged at its departure. The
platform's metrics come from billing (energy per session) and the stations' meters (load, peak,
limits, cost, green share).

Speed: 60x. The energy manager gives a profile command 15 minutes of business time to reach its
station (COMMAND_TTL, sized for 60x); at 180x, on this loaded two-core machine, commands expired
in the gateway and stations were left without limits, so the run counts expired commands and fails
if there are any.

Tolerance (chargeyard_devstack.simday.Tolerance), and why it is not zero:
- energy delivered within 3 percentage points of the energy requested, and the same number of
  sessions fully met (within 100 Wh or 1 %, as chargeyard-sim counts): a new plan reaches a
  station a debounce, a solve and an OCPP round trip after the event (about 0.5-2 real seconds,
  0.5-2 simulated minutes at 60x) where chargeyard-sim applies it at once; increases wait
  ENERGY_INCREASE_DELAY_S (60 simulated seconds here) so decreases elsewhere land first; the
  scheduler learns delivered energy from meter values every 5 simulated minutes and billing counts
  whole Wh. With laxity in every session the plan catches up, so none of this may cost energy;
- peak: never above the site limit (1 W, as chargeyard-sim), at most 10 % below chargeyard-sim's
  peak (the ramp delays trim the top of the load);
- zero violations: the site limit and board currents on the metered load, and the plan layer's
  offers (0 A or at least 6 A), as chargeyard-sim checks them; no violations from the scheduler's
  own plan checker either;
- cost within 5 % and green share within 0.03: the delays move a few minutes of energy across
  hourly price and green-share steps.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chargeyard_devstack.simday import Tolerance, compare, live_metrics, read_inputs, sim_metrics

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).parents[2] / "services" / "scheduler" / "examples"
SPEED = 60.0
STRATEGY = "fcfs"


@pytest.mark.asyncio
@pytest.mark.timeout(480)
async def test_a_simulated_day_through_the_services_matches_chargeyard_sim(run_dir: Path) -> None:
    inputs = read_inputs(
        DATA / "simday_sessions.csv", DATA / "simday_site.json", EXAMPLES / "prices.csv", EXAMPLES / "green.csv"
    )
    tolerance = Tolerance()
    started = time.monotonic()
    sim = sim_metrics(inputs, STRATEGY, 900)
    simulated = time.monotonic()
    live = await live_metrics(inputs, STRATEGY, run_dir=run_dir, speed=SPEED, tolerance=tolerance)
    done = time.monotonic()
    print(f"chargeyard-sim ({simulated - started:.1f} s): {sim}")
    print(f"services ({done - simulated:.1f} s at {SPEED:g}x): {live}")

    # The day itself is what the comparison needs: every car came, met the limit and was billed.
    assert live["billing_missing"] == [], f"billing never completed {live['billing_missing']}"
    assert live["commands_expired"] == 0, f"{live['commands_expired']} commands expired: the run is not valid"
    assert sim["sessions_fully_met"] == sim["sessions"], "the sample should be feasible for chargeyard-sim"
    assert sim["peak_kw"] == sim["limit_kw"], "the sample should make the limit bind"
    # Each metric within its tolerance (compare says which one is not, and by how much).
    assert compare(sim, live, tolerance) == []
    # The same checks, spelt out.
    assert abs(live["energy_delivered_pct"] - sim["energy_delivered_pct"]) <= tolerance.energy_pct
    assert live["sessions_fully_met"] == sim["sessions_fully_met"]
    assert sim["peak_kw"] * (1 - tolerance.peak_below_pct / 100) <= live["peak_kw"] <= live["limit_kw"] + 0.001
    assert live["limit_violations"] == {"site_limit": 0, "board_limit": 0, "min_current": 0}, live["over"]
    assert live["plan_violations"] == 0
    # IEC 61851-1 under every layer, the energy manager's fail-safe maxima included: a plugged-in
    # car is offered 0 A or at least 6 A, never in between.
    assert live["offered_below_6a_samples"] == 0, live["notes"][:5]
