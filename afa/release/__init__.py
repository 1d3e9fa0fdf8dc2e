"""The authors' released checkpoints: their parameter names (names) and their download (download)."""
