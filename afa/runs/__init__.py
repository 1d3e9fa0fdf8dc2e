"""What a run is: the row list (zoo), a run id and its folder (layout), its resolved config (spec), its precision and
the smoke scale, and the lock that gives a run folder one writer."""
