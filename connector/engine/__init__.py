"""The engine: one run of one flow (runner) and the pure planner."""
