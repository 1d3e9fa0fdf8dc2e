"""Training one run: the sequence (train), what it reads of the run's spec (request), the resolved config for
mmdet (setup), input checks (inputs), several processes (launch), and the features training carries: hooks, the
early alarm, continuation."""
