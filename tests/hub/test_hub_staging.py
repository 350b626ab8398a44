"""On a hub, staging runs in the StarDock service as the Hub user behind the request.

Each user asks through their own server (remote mode forwards to the service): the
archive's access rule is judged for that Hub user, and each sees only their own
requests and staged datasets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ..engine.test_staging import fits_files
from .conftest import Hub, _start_hub

USERS = ("sddora", "sdeli")  # their own: the session hub's users keep their servers


@pytest.fixture(scope="module")
def staging_hub(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[Hub]:
    home = tmp_path_factory.mktemp("staginghub")
    tape = home / "tape"
    fits_files(tape, "raw", 3)
    fits_files(tape, "proprietary", 1)
    access = [{"files": "proprietary/*", "users": ["sddora"]}, {"all": True}]
    yield from _start_hub(
        home, USERS, {"archives": {"tape": {"root": str(tape), "access": access}}}
    )


def _follow(hub: Hub, user: str, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = hub.as_user(user, "GET", f"/stardock/api/staging/{request_id}")["request"]
        if view["state"] not in ("queued", "staging"):
            return dict(view)
        time.sleep(0.2)
    raise AssertionError(f"staging {request_id} did not finish")


def test_the_hub_user_is_who_stages_and_only_they_see_it(staging_hub: Hub) -> None:
    hub = staging_hub
    files = ["tape:raw/obs0.fits", "tape:proprietary/obs0.fits"]
    code, reply = hub.status(
        "POST", "/user/sdeli/stardock/api/datasets", "sdeli", {"files": files, "dataset": "eli"}
    )
    assert code == 403, reply
    assert "tape:proprietary/obs0.fits (only sddora may read it)" in reply["message"]

    body = hub.as_user(
        "sddora", "POST", "/stardock/api/datasets", {"files": files, "dataset": "dora"}
    )
    assert body["request"]["owner"] == "sddora"
    final = _follow(hub, "sddora", body["request"]["id"])
    assert final["state"] == "complete", final
    dora = {d["id"] for d in hub.as_user("sddora", "GET", "/stardock/api/datasets")["datasets"]}
    eli = {d["id"] for d in hub.as_user("sdeli", "GET", "/stardock/api/datasets")["datasets"]}
    assert "dora" in dora and "dora" not in eli
    assert hub.as_user("sdeli", "GET", "/stardock/api/staging")["requests"] == []
    code, _ = hub.status("GET", f"/user/sdeli/stardock/api/staging/{final['id']}", "sdeli")
    assert code == 404
    code, _ = hub.status("DELETE", "/user/sdeli/stardock/api/datasets/dora", "sdeli")
    assert code == 404
