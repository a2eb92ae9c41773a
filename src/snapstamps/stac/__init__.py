"""STAC input and output: SLC items (ifg-stack input), stack catalogs (its output, psi input), the psi result catalog, offline validation."""

from __future__ import annotations

__all__ = ["build_ifg_stack_catalog", "build_psi_catalog", "resolve_slc", "resolve_stack", "validate_catalog",
           "write_stack_catalog"]


def __getattr__(name: str):  # lazy: pystac is imported only when STAC is used
    if name == "build_psi_catalog":
        from .psi import build_psi_catalog

        return build_psi_catalog
    if name in ("resolve_stack", "write_stack_catalog"):
        from . import stack

        return getattr(stack, name)
    if name == "build_ifg_stack_catalog":
        from .ifg import build_ifg_stack_catalog

        return build_ifg_stack_catalog
    if name == "resolve_slc":
        from .slc import resolve_slc

        return resolve_slc
    if name == "validate_catalog":
        from .validate import validate_catalog

        return validate_catalog
    raise AttributeError(name)
