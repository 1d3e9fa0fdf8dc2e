"""Training one run: the sequence (train), the resolved config for mmdet (setup), input checks (inputs), several
processes (launch), and the features training carries: hooks, the early alarm, continuation."""
