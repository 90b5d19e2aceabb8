"""The keyed hash of an address key, shared by the database and the import reader.

Kept apart from :mod:`newsletter.db` so the import's reader process can hash
without loading SQLAlchemy.
"""

from __future__ import annotations

import hashlib


def hash_with(secret: bytes, key: str) -> str:
    """BLAKE2b in keyed mode (a MAC), 128 bits as 32 hex digits.

    Without the secret, a leaked database does not let anyone test guessed
    addresses against forgotten people.
    """
    return hashlib.blake2b(key.encode("utf-8"), key=secret, digest_size=16).hexdigest()
