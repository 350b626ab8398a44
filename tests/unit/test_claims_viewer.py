"""Who sees what in the hub service: viewers and environment claims."""

from __future__ import annotations

from jupyter_stardock.core.claims import EnvironmentClaims
from jupyter_stardock.core.users import Viewer


def test_single_user_viewer_sees_everything() -> None:
    viewer = Viewer("me")
    assert viewer.owner_filter is None and viewer.may_see("someone-else")


def test_hub_user_sees_only_their_own_and_admins_see_all() -> None:
    ana = Viewer("ana", scoped=True)
    assert ana.owner_filter == "ana"
    assert ana.may_see("ana") and not ana.may_see("bob") and not ana.may_see(None)
    admin = Viewer("root-of-hub", admin=True, scoped=True)
    assert admin.owner_filter is None and admin.may_see("bob")


def test_claims_share_images_without_telling_who(tmp_path) -> None:
    path = tmp_path / "claims.json"
    claims = EnvironmentClaims(path)
    claims.add("env1", "ana", "m51")
    claims.add("env1", "bob", None)
    claims.add("env1", "ana", "m51")  # twice: once
    assert claims.of("ana") == {"env1": ["m51"]}
    assert claims.of("bob") == {"env1": [""]}
    assert EnvironmentClaims(path).users("env1") == {"ana", "bob"}  # persisted
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # readable by the server alone
    assert claims.remove("env1", "ana") == {"bob"}
    assert claims.remove("env1", "bob") == set()
    assert claims.of("bob") == {}
