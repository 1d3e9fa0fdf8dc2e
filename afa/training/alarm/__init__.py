"""The early alarm: a run's box AP per epoch against a reference curve (reference), the hook that compares and
records it (hook), and `afa reference fetch` (fetch)."""
