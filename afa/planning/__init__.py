"""Planning a reproduction before launch: batch layouts (batch.py, plan.py) and its cost on the hardware at hand (probe.py, cost.py)."""
