"""User-facing errors. Each carries one line that names the field or token and what was expected."""


class NaoError(Exception):
    """Base class: the CLI prints str(err) on one line and exits 2."""


class ConfigError(NaoError):
    """A configuration key has an unknown name, a wrong type or an out-of-range value."""


class ArchError(NaoError):
    """An architecture string or token sequence is malformed."""


class PoolError(NaoError):
    """A pool file line is malformed (message starts with file:line)."""
