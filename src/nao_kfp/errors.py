"""User-facing errors. Each carries one line that names the field or token and what was expected."""


class NaoError(Exception):
    """Base class: the CLI prints str(err) on one line and exits 2."""


class ConfigError(NaoError):
    """A configuration key has an unknown name, a wrong type or an out-of-range value."""


class ArchError(NaoError):
    """An architecture string or token sequence is malformed."""


class PoolError(NaoError):
    """A pool file line is malformed (message starts with file:line)."""


class RecordError(NaoError):
    """A record file is malformed (names the file and the key)."""


# An error line quotes at most this many characters of a value (a 5 MB architecture string
# would otherwise make a 5 MB line).
SHOWN = 200


def shorten(text: str, limit: int = SHOWN) -> str:
    """text, cut to `limit` characters with '…' where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: object, limit: int = SHOWN) -> str:
    """A value as an error line quotes it: its repr, at most `limit` characters."""
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's digit limit for str()
        return (
            f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
            if isinstance(value, int)
            else "a value"
        )
    return shorten(text, limit)
