"""Backends that run the reference tools instead of the native engine.

- :mod:`snapstamps.backends.snap`: SNAP ``gpt`` graphs for the interferogram stack (split,
  orbits, coregistration, interferogram, deburst, topographic phase, subset, StaMPS export).
- :mod:`snapstamps.backends.stamps`: StaMPS (``mt_prep_snap`` and ``stamps`` steps) under
  MATLAB or GNU Octave, converted to the native products.
- :mod:`snapstamps.backends.dispatch`: the psi backend dispatcher (``psi --backend``).

``auto`` picks the real tool when it is found and falls back to the native engine.
"""
