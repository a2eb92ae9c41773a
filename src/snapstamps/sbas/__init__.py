"""Small-baseline (SBAS) building blocks: network inversion of unwrapped interferograms."""
