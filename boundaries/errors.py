"""Errors of the grid registry. Each carries a stable ``code``; the web layer maps classes to HTTP status."""

__all__ = [
    "RegistryError",
    "NotFoundError",
    "ConflictError",
    "InvalidInputError",
    "NoGenerationError",
    "OutOfScopeError",
]


class RegistryError(Exception):
    """Base class of registry errors; ``str(error)`` is the user-facing message."""

    code = "registry_error"


class NotFoundError(RegistryError):
    """An area, generation, building or worker that does not exist."""

    code = "not_found"


class ConflictError(RegistryError):
    """An operation that conflicts with the current state (e.g. a second draft generation)."""

    code = "conflict"


class InvalidInputError(RegistryError):
    """Input that breaks the registry's rules (unknown level, bad code, refused repair ...)."""

    code = "invalid_input"


class NoGenerationError(NotFoundError):
    """No generation has been published yet, so there is nothing to look up."""

    code = "no_generation"


class OutOfScopeError(RegistryError):
    """The caller's areas do not cover the area, point or object asked for."""

    code = "out_of_scope"
