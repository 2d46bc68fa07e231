"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommendations)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import InvalidInputError

__all__ = ["hash_password", "verify_password", "needs_rehash", "check_password_strength", "MIN_LENGTH"]

_HASHER = PasswordHasher()
#: Shortest password accepted.
MIN_LENGTH = 10
# Verified against when the user does not exist, so a login takes as long either way.
_DUMMY = _HASHER.hash("weige-no-such-user")


def check_password_strength(password: str) -> None:
    """Refuse passwords that are too short or of one repeated character."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH or len(set(password)) < 4:
        raise InvalidInputError(
            f"密码太弱 password too weak: at least {MIN_LENGTH} characters, not one repeated character"
        )


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``."""
    check_password_strength(password)
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; an absent hash still costs one verification."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with older parameters and should be replaced at the next login."""
    return _HASHER.check_needs_rehash(password_hash)
