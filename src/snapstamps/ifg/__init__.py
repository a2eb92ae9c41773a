"""The interferogram-stack pipeline: Sentinel-1 IW SLCs to an ``INSAR_<reference>`` StaMPS export.

:mod:`snapstamps.ifg.config` holds the configuration shared by every backend (SNAP ``gpt``
graphs today, the native engine later).
"""
