"""Passwords and API tokens: what is stored is never what was typed.

Passwords are hashed with Argon2id (argon2-cffi, the reference implementation;
the winner of the Password Hashing Competition and OWASP's first choice).
Tokens are 256 random bits: far beyond guessing, so a fast SHA-256 digest is
enough to store them, and checking one costs microseconds on every API call.

Examples
--------
>>> stored = hash_password("正确 horse battery")
>>> verify_password(stored, "正确 horse battery"), verify_password(stored, "wrong")
(True, False)
>>> token = new_token()
>>> token.startswith(TOKEN_PREFIX), len(token_digest(token))
(True, 64)
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geogrid.errors import InputError

#: Tokens start with this, so a leaked one is easy to recognise in logs and code.
TOKEN_PREFIX = "ggt_"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_hasher = PasswordHasher()


def check_password(password: str) -> str:
    """``password`` if it is long enough to resist guessing; an error otherwise.

    Examples
    --------
    >>> check_password("short")
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: password: at least 10 characters
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"password: at most {MAX_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``, with its own salt and parameters."""
    return _hasher.hash(check_password(password))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash (False for no hash or a bad one)."""
    if not stored or not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_time() -> None:
    """Spend what checking a password would: an unknown name answers as slowly as a known one."""
    verify_password(_DUMMY, "not the password")


def new_token() -> str:
    """A new API token: shown once to its owner, stored only as :func:`token_digest`."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The SHA-256 digest under which a token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def random_password() -> str:
    """A random password for a demo account: 16 characters from a URL-safe alphabet."""
    return secrets.token_urlsafe(12)


_DUMMY = _hasher.hash("geogrid timing equaliser")
