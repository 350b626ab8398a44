"""The exceptions jupyter-stardock raises, written for the scientist who reads them.

Every message is a full sentence that says what was wrong and what to do.
Handlers map these to HTTP status codes; the CLI prints ``str(err)`` on one line.

    StarDockError
    ├── EngineUnavailable        the Docker Engine cannot be reached        (503)
    ├── EngineError              the engine answered with an error          (502)
    ├── BuildFailed              a build step failed or was stopped
    ├── BaseImageError           the base image could not be made or found
    ├── NotFound                 no such build, environment, dataset, ...   (404)
    ├── Forbidden                the user may not use this item             (403)
    ├── QuotaExceeded            a per-user limit was reached               (429)
    └── RecipeError              bad user input in a recipe                 (400)
        ├── CatalogError         unknown, conflicting or cyclic apps
        └── PolicyError          a custom command or package name refused
"""

from __future__ import annotations

__all__ = [
    "BaseImageError",
    "BuildFailed",
    "CatalogError",
    "EngineError",
    "EngineUnavailable",
    "Forbidden",
    "NotFound",
    "PolicyError",
    "QuotaExceeded",
    "RecipeError",
    "StarDockError",
]


class StarDockError(Exception):
    """Base of every error jupyter-stardock raises on purpose."""

    #: The HTTP status a REST handler answers with.
    status_code: int = 500


class EngineUnavailable(StarDockError):
    """The Docker Engine could not be reached (not running, wrong address, no permission)."""

    status_code = 503


class EngineError(StarDockError):
    """The engine answered, but with an error we cannot turn into anything better."""

    status_code = 502


class BuildFailed(StarDockError):
    """A build failed, was cancelled or ran out of time."""

    status_code = 500


class BaseImageError(StarDockError):
    """The base image could not be built, bootstrapped or found."""

    status_code = 500


class NotFound(StarDockError):
    status_code = 404


class Forbidden(StarDockError):
    status_code = 403


class QuotaExceeded(StarDockError):
    status_code = 429


class RecipeError(StarDockError, ValueError):
    """Bad user input in a recipe. ``item`` names the offending app, line or field."""

    status_code = 400

    def __init__(self, message: str, *, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


class CatalogError(RecipeError):
    """Unknown app id, conflicting apps or a dependency cycle."""


class PolicyError(RecipeError):
    """A custom command, Debian package or pip package the policy refuses."""
