"""The web viewer's static files (``static/``: HTML, JS, CSS, vendored uPlot) and its CLI commands.

The export of a psi result into a viewer folder is :mod:`snapstamps.results.viewer`;
:mod:`.synthetic` and :mod:`.testing` make a synthetic result and drive the browser tests.
"""
