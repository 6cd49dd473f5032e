"""The package's exceptions: every error a user can act on is a WorkbenchError.

The CLI prints ``str(error)`` as one line and exits non-zero; nothing else needs
to be caught by callers.
"""


class WorkbenchError(Exception):
    """Base class: a message that says what is wrong and what to do."""


class ConfigError(WorkbenchError):
    """The configuration file or a setting is invalid."""


class StoreError(WorkbenchError):
    """The store cannot be read or written (path, permissions, lock, disk)."""


class SourceError(WorkbenchError):
    """A video source cannot be opened or read."""


class ModelError(WorkbenchError):
    """A model file is missing or cannot be loaded."""


class NotFoundError(WorkbenchError):
    """A customer, table or other named thing does not exist."""
