"""What a run will run as, decided before anything launches: images per GPU and gradient-accumulation steps for
the devices at hand (batch), and the whole plan of a row printed by `afa plan` (plan); with --probe, its measured
cost (probe, cost, estimates); and the smaller layout to ask for when a GPU runs out of memory (out_of_memory)."""
