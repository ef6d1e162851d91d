"""`chargeyard-sim`: replay real charging sessions through the planner in simulated time."""
