"""Orchestration: read state, unpack the configuration into the kernels, write state and products."""
