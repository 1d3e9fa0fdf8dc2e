"""Training one run: the resolved config for mmdet (setup), input checks, the run itself (train), resuming
(checkpoints) and the record of what a folder was trained with (fingerprint)."""
