"""Errors fenlei raises on purpose; each carries a sentence a user can act on."""


class FenleiError(Exception):
    """Base of fenlei's own errors; the CLI prints the message and exits non-zero."""


class ServiceError(FenleiError):
    """A local service could not be installed, started, reached or stopped."""


class MigrationError(FenleiError):
    """The database schema cannot be brought to the current version."""


class MigrationDriftError(MigrationError):
    """An applied migration's file was edited after it was applied."""


class ConfigError(FenleiError):
    """A setting is missing or invalid."""
