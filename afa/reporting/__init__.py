"""What a user reads: the regenerated tables, figures, training curves and their statistics."""
