"""Errors that the CLI turns into one line and exit code 2."""

from __future__ import annotations


class BasketError(Exception):
    """An expected failure caused by the user's input; its message is one line."""

    def __init__(self, message: str) -> None:
        # Keep messages to one line so the CLI never prints a wall of text.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self.args[0])


class ReportedElsewhere(BasketError):
    """A failure another process reports (rank 0 of a distributed run): exit code 2, and
    nothing printed here."""


class DataError(BasketError):
    """A data source is missing, malformed or unusable."""


class ConfigError(BasketError):
    """A model setting or command option is invalid."""


class UnknownModelError(BasketError):
    """No registered model has the requested name."""


class PluginLoadError(BasketError):
    """A registered plugin could not be imported."""


class ModelError(BasketError):
    """A model broke the contract while running: scores of the wrong shape, NaN scores."""


class ArtifactError(BasketError):
    """A run directory or model file is missing, incomplete, corrupt or incompatible."""
