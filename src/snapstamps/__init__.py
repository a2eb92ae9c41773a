"""snapstamps: Sentinel-1 PSI (SNAP + StaMPS compatible) with a native Python engine."""

__version__ = "0.1.0"
