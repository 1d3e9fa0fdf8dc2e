"""Small shared utilities: atomic writes, the user-error type, config walking, provenance and hashing."""
