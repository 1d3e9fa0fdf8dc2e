"""Stopping at any iteration and continuing there exactly: the stop signals (signals), the scheduler job's end
(job_limit), the random states (rng), a loader that starts mid-epoch (resumable_loader) and the hook (hook)."""
