"""Simulators of stacks with known truth: StaMPS exports and Sentinel-1 IW SLC SAFEs."""
