"""What training reads of a run's spec, read once at the start: the stages after it (claim, set up, fit, finish)
are handed these values, never the RunSpec with its zoo, paths and config building.

The values keep the RunSpec's names (run_id, scale, seed, batch, describe()), so the pure set-up functions
(afa/training/setup.py) take either.
"""
from afa.runs import fingerprint
from afa.training import setup
from afa.training.alarm.reference import hook_config as alarm_hook_config


class RunRequest(object):
    """One run as training is asked to run it: identity, batch, precision, validation and early alarm, and the
    fingerprint of its resolved config (taken before training completes the config in place)."""

    def __init__(self, record, fingerprint_, validate, alarm_hook=None, alarm_why=None):
        self.record = dict(record)
        self.run_id = record['run_id']
        self.scale = record['scale']
        self.seed = record['seed']
        self.precision = record['precision']
        self.batch = record['batch']
        self.is_recipe_batch = record['recipe_batch']  # True when the batch is the recipe's
        self.fingerprint = fingerprint_
        self.validate = validate
        self.alarm_hook = alarm_hook
        self.alarm_why = alarm_why

    def describe(self):
        """What run.json and train_done.json say was asked (RunSpec.describe())."""
        return dict(self.record)


def request_of(spec, cfg, validate=None, alarm=None):
    """The RunRequest of ``spec`` with ``cfg``, its resolved config. ``validate``: --validate (None: by scale);
    ``alarm``: the early alarm's options (afa/training/alarm/reference.py), resolved only when validating."""
    validate = setup.should_validate(spec, validate)
    hook, why = alarm_hook_config(spec, alarm or {}) if validate else (None, None)
    return RunRequest(spec.describe(), fingerprint.compute(cfg, spec), validate, hook, why)
