"""REST handlers of the data service: stage files into a dataset, follow it, cancel it.

POST   /stardock/api/datasets                     {"files": [...], "dataset": "name"} -> 202
GET    /stardock/api/staging                      the viewer's staging requests
GET    /stardock/api/staging/<id>                 one request's progress (files and bytes)
POST   /stardock/api/staging/<id>/cancel          stop it; nothing of it is kept
DELETE /stardock/api/datasets/<id>                remove one's own staged dataset
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import NotFound, RecipeError
from ..services.staging import StagingService
from .handlers import DatasetsHandler, JSONBodyMixin, UserMixin

__all__ = [
    "StagedDatasetHandler",
    "StagingCancelHandler",
    "StagingDatasetsHandler",
    "StagingHandler",
    "StagingListHandler",
]


class StagingMixin(UserMixin):
    @property
    def staging(self) -> StagingService:
        staging: StagingService | None = getattr(self.stardock, "staging", None)
        if staging is None:
            raise NotFound("This server stages no files: no archives are configured.")
        return staging


class StagingDatasetsHandler(JSONBodyMixin, StagingMixin, DatasetsHandler):
    """The datasets list (GET, as before) and a staging request (POST)."""

    get = DatasetsHandler.get

    @web.authenticated
    @authorized
    async def post(self) -> None:
        view = await self.staging.submit(self.viewer, self.json_body())
        self.set_status(202)
        self.finish(json.dumps({"request": view}))


class StagingListHandler(StagingMixin):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"requests": self.staging.views(self.viewer)}))


class StagingHandler(StagingMixin):
    @web.authenticated
    @authorized
    async def get(self, request_id: str) -> None:
        self.finish(json.dumps({"request": self.staging.view(self.viewer, request_id)}))


class StagingCancelHandler(StagingMixin):
    @web.authenticated
    @authorized
    async def post(self, request_id: str) -> None:
        view = await self.staging.cancel(self.viewer, request_id)
        self.finish(json.dumps({"request": view}))


class StagedDatasetHandler(JSONBodyMixin, StagingMixin):
    @web.authenticated
    @authorized
    async def patch(self, dataset_id: str) -> None:
        pinned = self.json_body().get("pinned")
        if not isinstance(pinned, bool):
            raise RecipeError("Give {'pinned': true} or {'pinned': false}.")
        self.finish(json.dumps(await self.staging.pin(self.viewer, dataset_id, pinned)))

    @web.authenticated
    @authorized
    async def delete(self, dataset_id: str) -> None:
        await self.staging.remove(self.viewer, dataset_id)
        self.set_status(204)
        self.finish()
