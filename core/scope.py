"""Area scope: the areas a caller may see and change (:class:`Scope`), and how phone numbers are shown.

Every domain package filters by a :class:`Scope`: the registry through ``boundaries.scope.ScopedRegistry``
(which needs the registry, so it stays in ``boundaries``), issues and tracks by the area codes they carry.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Scope", "mask_phone"]


@dataclass(frozen=True)
class Scope:
    """The areas a caller may see: ``roots`` and everything below them (``None``: everything).

    ``full_phones`` says whether workers' and reporters' phone numbers are shown in full (masked otherwise).
    ``reporter`` (a user id) limits issues to those that user reported: an intake channel reads the status of
    its own reports and nothing else.
    """

    roots: frozenset[str] | None
    full_phones: bool = False
    reporter: int | None = None

    @classmethod
    def everything(cls) -> Scope:
        """The unrestricted scope of administrators and the command line."""
        return cls(None, True)

    @property
    def unrestricted(self) -> bool:
        """Whether the scope covers every area."""
        return self.roots is None


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``.

    Examples
    --------
    >>> mask_phone("13812345678")
    '138****5678'
    """
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****" if phone else ""
