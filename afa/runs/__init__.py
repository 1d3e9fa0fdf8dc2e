"""What a run is: the row list (zoo), a run id and its folder (layout), its resolved config (spec), its precision and
the smoke scale, the lock that gives a run folder one writer, and where a checkpoint's results go (results)."""
