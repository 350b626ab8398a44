"""The one content hash that names images: SHA-256 over length-prefixed parts.

Environment images (:func:`.recipe.compose`) and the base image
(:mod:`..services.base_image`) are tagged by it, so an unchanged input finds its
image again without a build. Each part is prefixed with its length (8 bytes,
big-endian), so no two different lists of parts feed the hash the same bytes
("ab" + "c" is not "a" + "bc"). Changing this changes every tag: existing images
would no longer be found.
"""

from __future__ import annotations

import hashlib

__all__ = ["hash_parts"]


def hash_parts(*parts: bytes) -> str:
    """The hex SHA-256 of ``parts``, each prefixed with its length."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()
