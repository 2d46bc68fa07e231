"""Errors every package raises. Each carries a stable ``code``; the web layer maps classes to HTTP status."""

__all__ = [
    "RegistryError",
    "NotFoundError",
    "ConflictError",
    "ChangeSetConflictError",
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


class ChangeSetConflictError(ConflictError):
    """A change set changed areas that a generation published since it began also changed.

    ``change_set`` is the refused change set; ``conflicts`` lists ``{code, generation, change_set, author,
    note}`` per area and published generation. Rebasing the change set onto the current generation resolves it.
    """

    code = "change_set_conflict"

    def __init__(self, change_set: int, conflicts: list[dict]):
        codes = sorted({c["code"] for c in conflicts})
        others = sorted({(c["change_set"], c["author"], c["generation"]) for c in conflicts})
        by = "; ".join(f"change set {cs} by {author or '?'} (generation {g})" for cs, author, g in others)
        shown = ", ".join(codes[:20]) + (f" (+{len(codes) - 20})" if len(codes) > 20 else "")
        super().__init__(
            f"变更冲突：区域 {shown} 在您的变更集开始后已被其他变更集修改并发布 change set {change_set} conflicts: "
            f"area(s) {shown} were changed and published after it began by {by}; rebase it onto the current "
            "generation (POST /api/v1/generations/draft/rebase, or `python server.py rebase`), check it and publish "
            "again"
        )
        self.change_set, self.conflicts = change_set, conflicts


class InvalidInputError(RegistryError):
    """Input that breaks the registry's rules (unknown level, bad code, refused repair ...)."""

    code = "invalid_input"


class NoGenerationError(NotFoundError):
    """No generation has been published yet, so there is nothing to look up."""

    code = "no_generation"


class OutOfScopeError(RegistryError):
    """The caller's areas do not cover the area, point or object asked for."""

    code = "out_of_scope"
