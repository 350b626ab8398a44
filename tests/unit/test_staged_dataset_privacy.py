"""A staged dataset is its owner's: to anyone else it answers as an unknown one.

Found in a real hub (tests/hub/test_hub_reach.py): another user's start or build
naming it got a 403 with its title, and any unknown id's sentence listed it among
the known datasets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_stardock.core.datasets import Dataset, DatasetRegistry
from jupyter_stardock.errors import Forbidden, NotFound


def registry(tmp_path: Path) -> DatasetRegistry:
    configured = {
        "open": {"path": str(tmp_path / "open")},
        "ana-only": {"path": str(tmp_path / "ana"), "allowed_users": ["ana"]},
    }
    found = DatasetRegistry(configured)
    staged = Dataset(
        id="tonight",
        path=tmp_path / "staged",
        title="Fay's night",
        description="Staged by fay: 3 files.",
        allowed_users=("fay",),
        allowed_groups=(),
    )
    found.add_source(lambda: [staged])
    return found


def test_another_users_staged_dataset_is_unknown_to_them(tmp_path: Path) -> None:
    datasets = registry(tmp_path)
    assert datasets.for_user("tonight", "fay").title == "Fay's night"
    assert datasets.for_user("tonight", "root", admin=True).id == "tonight"
    with pytest.raises(NotFound) as refused:
        datasets.for_user("tonight", "gil", ["astro"])
    message = str(refused.value)
    assert "Fay" not in message and "fay" not in message
    assert message == "There is no dataset 'tonight' (known: open)."


def test_an_unknown_id_lists_only_what_the_user_may_use(tmp_path: Path) -> None:
    datasets = registry(tmp_path)
    with pytest.raises(NotFound) as gil:
        datasets.for_user("m51", "gil")
    assert str(gil.value) == "There is no dataset 'm51' (known: open)."
    with pytest.raises(NotFound) as fay:
        datasets.for_user("m51", "fay")
    assert str(fay.value) == "There is no dataset 'm51' (known: open, tonight)."
    nobody = DatasetRegistry({"ana-only": {"path": str(tmp_path), "allowed_users": ["ana"]}})
    with pytest.raises(NotFound) as none:
        nobody.for_user("m51", "gil")
    assert "none are open to you" in str(none.value)


def test_a_configured_dataset_not_granted_is_still_refused_by_name(tmp_path: Path) -> None:
    # The operator's datasets are no secret (the picker explains them); only access is.
    with pytest.raises(Forbidden, match="may not use the dataset 'ana-only'"):
        registry(tmp_path).for_user("ana-only", "gil")
