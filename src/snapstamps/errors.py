"""Errors shown to users: one line, naming the file or parameter at fault."""


class SnapstampsError(Exception):
    """Base class of every error the CLI reports as a one-line message."""


class InputError(SnapstampsError):
    """Bad or inconsistent input data (missing, truncated, wrong size or byte order)."""


class ParameterError(SnapstampsError):
    """A processing parameter has an unknown name or an invalid value."""


class StepOrderError(SnapstampsError):
    """A step was started before the outputs of the steps it needs exist."""


class NoCandidatesError(SnapstampsError):
    """No pixel (or no PS) survived a selection stage."""


class ExternalToolError(SnapstampsError):
    """An external program (snaphu, Octave, gpt) is missing or failed."""
