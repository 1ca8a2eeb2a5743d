"""Errors a user can act on; the CLI and HTTP layer print their message, never a traceback."""


class SemsearchError(Exception):
    """Base class: the message is meant for the user."""


class IndexNotFoundError(SemsearchError):
    pass


class IndexCorruptError(SemsearchError):
    pass


class ModelMismatchError(SemsearchError):
    pass


class InvalidInputError(SemsearchError):
    """A request or document is malformed; `field` names what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedError(SemsearchError):
    """This kind of service cannot do that (HTTP 501); the message says what to use instead."""
