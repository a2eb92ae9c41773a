"""Numerical kernels of the PSI engine (StaMPS steps 0-8): pure functions over the arrays of one patch."""
