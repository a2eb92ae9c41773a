"""Systematic processing: subscriptions that keep an interferogram stack and its psi results current.

:mod:`.model` (the subscription spec), :mod:`.store` (its state in SQLite), :mod:`.catalog`
(search and stage-in), :mod:`.tick` (one update), :mod:`.publish` (the versioned STAC collection),
:mod:`.http` (routes, OpenAPI paths and scheduler for the service), and
:mod:`snapstamps.cli.systematic` (``snapstamps systematic ...``).
"""
