"""The project's exception type for model, configuration and file errors."""

__all__ = ["ModelError", "SnnfpgaError"]


class SnnfpgaError(Exception):
    """Base of every error the project raises on purpose; the message says what was expected."""


class ModelError(SnnfpgaError, ValueError):
    """A model file, configuration or input that does not meet its contract."""
