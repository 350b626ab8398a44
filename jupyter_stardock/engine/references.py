"""Image references as the engine's API wants them: a repository and a tag, apart."""

from __future__ import annotations

from docker.utils import parse_repository_tag

__all__ = ["repository_and_tag"]


def repository_and_tag(ref: str) -> tuple[str, str]:
    """``ref``'s repository and tag; a reference without a tag means ``latest``.

    docker-py's own parser, so a registry's port (``host:5000/repo``) is never read
    as a tag, and a digest (``repo@sha256:...``) comes back in the tag's place, as
    the engine's pull takes it.
    """
    repository, tag = parse_repository_tag(ref)
    return str(repository), str(tag or "latest")
