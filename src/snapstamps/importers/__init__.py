"""Importers of results made elsewhere (StaMPS runs, StaMPS-Visualizer exports) into the project's products."""
