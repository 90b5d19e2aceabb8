"""The secret key of a database: where it comes from, and that it is the one its hashes used.

Address hashes (suppressions, forgotten people) are keyed with it, so a lost or swapped
key would make every suppression silently stop matching. The database records a
fingerprint of the key on first use and refuses any other; a missing key file for a
database that has a fingerprint is an error rather than a fresh random key. Apart from
:class:`~newsletter.db.Database` (engine, sessions, schema) because none of this is
about opening a database, only about what may be hashed with it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import sqlalchemy as sa

from newsletter.config import read_secret
from newsletter.errors import ConfigError

SECRET_ENV = "NEWSLETTER_SECRET_KEY"
_FINGERPRINT = "secret_fingerprint"


def load_secret(engine: sa.Engine, key_file: Path) -> bytes:
    """The key for address hashes, from ``$NEWSLETTER_SECRET_KEY`` or a 0600 file.

    The database records a fingerprint of the key: with a different key
    every suppression would silently stop matching, so that is refused.
    """
    if not os.environ.get(SECRET_ENV) and not os.environ.get(f"{SECRET_ENV}_FILE"):
        if not key_file.exists() and _stored_fingerprint(engine) is not None:
            # A new random key could never match; do not leave one behind.
            raise ConfigError(
                "the secret key file is missing, and this database's address hashes "
                f"were made with it. Restore it from a backup, or set ${SECRET_ENV}.",
                file=str(key_file),
            )
        _create_key_file(key_file)
    value = read_secret(SECRET_ENV, file_setting=str(key_file))
    if not value:
        raise ConfigError(f"${SECRET_ENV} is empty")
    key = hashlib.sha256(value.encode("utf-8")).digest()
    _check_fingerprint(engine, key, key_file)
    return key


def _stored_fingerprint(engine: sa.Engine, connection: sa.Connection | None = None) -> str | None:
    table = sa.table("newsletter_meta", sa.column("key"), sa.column("value"))
    query = sa.select(table.c.value).where(table.c.key == _FINGERPRINT)
    if connection is not None:
        return connection.execute(query).scalar()
    with engine.connect() as own:
        return own.execute(query).scalar()


def _check_fingerprint(engine: sa.Engine, key: bytes, key_file: Path) -> None:
    fingerprint = hashlib.blake2b(b"fingerprint", key=key, digest_size=16).hexdigest()
    table = sa.table("newsletter_meta", sa.column("key"), sa.column("value"))
    with engine.begin() as connection:
        stored = _stored_fingerprint(engine, connection)
        if stored is None:
            connection.execute(sa.insert(table).values(key=_FINGERPRINT, value=fingerprint))
        elif stored != fingerprint:
            where, file = _key_source(key_file)
            raise ConfigError(
                f"the secret key in {where} differs from the one this database was "
                "created with; suppressions of forgotten people would no longer match. "
                "Restore the original key.",
                file=file,
            )


def _key_source(key_file: Path) -> tuple[str, str | None]:
    """Where the key in use came from, for a message: the environment wins over the file."""
    if os.environ.get(SECRET_ENV):
        return f"${SECRET_ENV}", None
    named = os.environ.get(f"{SECRET_ENV}_FILE")
    if named:
        return f"${SECRET_ENV}_FILE ({named})", named
    return str(key_file), str(key_file)


def _create_key_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot create secret key file: {exc.strerror}", file=str(path)) from exc
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32) + "\n")
