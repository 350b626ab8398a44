"""What users may write in a recipe: custom commands and extra package names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_stardock.core.policy import (
    MAX_COMMAND_CHARS,
    MAX_COMMANDS,
    MAX_PACKAGES,
    MAX_TOTAL_CHARS,
    normalize_command,
    normalize_commands,
    validate_apt_packages,
    validate_pip_packages,
)
from jupyter_stardock.errors import PolicyError, RecipeError

ORDINARY = [
    "pip install emcee",
    "pip install 'numpy<2' && python -c 'import numpy'",
    'echo "hello world" | tr a-z A-Z > /tmp/x',
    "curl -fsSL https://example.org/data.tar.gz | tar -xz -C /opt",
    "[ -f /etc/os-release ] && cat /etc/os-release",
    "for f in a b c; do echo $f; done",
    "echo $(date) `whoami` ${HOME:-/root}",
    "echo 'Ångström, 星, Ελληνικά, emoji 🚀' > /opt/greeting.txt",
    "python3 -c \"print('a\\\\b')\"",
    "env FOO=1 make -C /src",
    "add-apt-repository --help || true",
    "echo <<EOF",
    "# only a comment",
    "echo '# escape=`'",
    'echo "] && RUN evil"',
]


@pytest.mark.parametrize("command", ORDINARY)
def test_ordinary_shell_is_kept_as_written(command: str) -> None:
    assert normalize_command(command, 1) == command


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("RUN pip install x", "pip install x"),
        ("run pip install x", "pip install x"),
        ("Run   pip install x", "pip install x"),
        ("  RUN pip install x  ", "pip install x"),
        ("running-job --now", "running-job --now"),
        ("RUNNER=1 make", "RUNNER=1 make"),
    ],
)
def test_an_optional_leading_run_is_dropped(line: str, command: str) -> None:
    assert normalize_command(line, 1) == command


def test_messages_name_the_line_and_the_reason() -> None:
    with pytest.raises(PolicyError) as info:
        normalize_command("x" * 2400, 3)
    assert str(info.value) == (
        "Custom command 3 is 2,400 characters long; the limit is 2,000."
        " Split it into several commands."
    )
    assert info.value.item == "command 3"
    assert isinstance(info.value, RecipeError)

    with pytest.raises(PolicyError) as info:
        normalize_command("pip install a\nUSER root", 2)
    assert str(info.value) == (
        "Custom command 2 contains a line break; write each command on its own line."
    )
    assert info.value.item == "command 2"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        # Line breaks of every kind, so no second instruction can start.
        ("pip install x\nUSER root", "line break"),
        ("pip install x\rUSER root", "line break"),
        ("pip install x\r\n", "line break"),
        ("echo a\u2028FROM evil", "line break"),
        ("echo a\u2029FROM evil", "line break"),
        ("echo a\x85FROM evil", "line break"),
        ("echo a\x0bb", "line break"),
        ("echo a\x0cb", "line break"),
        # Other control and invisible characters.
        ("echo a\x00b", "invisible character (U+0000"),
        ("echo a\x1bb", "invisible character (U+001B"),
        ("echo a\x7fb", "invisible character (U+007F"),
        ("echo\u200bx", "invisible character (U+200B ZERO WIDTH SPACE)"),
        ("echo \u202egnp.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("echo \ufeffx", "U+FEFF"),
        ("echo\tx", "tab character"),
        ("echo \ud800", "unpaired surrogate"),
        ("pip\u00a0install x", "special space (U+00A0 NO-BREAK SPACE)"),
        # A continuation that would swallow the next line.
        ("apt-get install -y \\", "ends with a backslash"),
        ("echo a \\\\", "ends with a backslash"),
        # Other instructions, builder flags, JSON form.
        ("COPY secret /etc/", "starts with COPY, a Dockerfile instruction"),
        ("ENV PATH=/x", "starts with ENV"),
        ("FROM busybox", "starts with FROM"),
        ("USER root", "starts with USER"),
        ("RUN RUN ls", "starts with RUN"),
        ("ONBUILD RUN x", "starts with ONBUILD"),
        ("RUN --mount=type=secret,id=x cat /run/secrets/x", "build option --mount"),
        ("--network=host curl x", "build option --network"),
        ('RUN ["pip", "install", "x y"]', "for example: pip install 'x y'"),
        # Empty.
        ("", "is empty"),
        ("RUN", "is empty"),
        ("   ", "is empty"),
    ],
)
def test_escapes_and_mistakes_are_refused(line: str, words: str) -> None:
    with pytest.raises(PolicyError, match=r"^Custom command 4 ") as info:
        normalize_command(line, 4)
    assert words in str(info.value)
    assert info.value.item == "command 4"


def test_non_text_is_refused() -> None:
    with pytest.raises(PolicyError, match="is not text"):
        normalize_command(42, 1)  # type: ignore[arg-type]


def test_length_limits() -> None:
    assert normalize_command("x" * MAX_COMMAND_CHARS, 1)
    with pytest.raises(PolicyError, match="2,001 characters long"):
        normalize_command("x" * (MAX_COMMAND_CHARS + 1), 1)
    # The limit counts the command, not an optional RUN prefix or spaces around it.
    assert normalize_command("RUN  " + "x" * MAX_COMMAND_CHARS + " ", 1)

    assert len(normalize_commands(["true"] * MAX_COMMANDS)) == MAX_COMMANDS
    with pytest.raises(PolicyError, match="51 custom commands; the limit is 50") as info:
        normalize_commands(["true"] * (MAX_COMMANDS + 1))
    assert info.value.item == "commands"

    per_line = MAX_TOTAL_CHARS // 10
    assert normalize_commands(["x" * 1000] * 20)
    with pytest.raises(PolicyError, match="20,001 characters long in all"):
        normalize_commands(["x" * per_line] * 10 + ["y"])


def test_commands_keep_their_order_and_name_the_bad_one() -> None:
    assert normalize_commands(["RUN b", "a"]) == ("b", "a")
    with pytest.raises(PolicyError, match=r"^Custom command 2 ") as info:
        normalize_commands(["true", "COPY x y", "true"])
    assert info.value.item == "command 2"


# --- package fields ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["python3-scipy", "g++", "libcfitsio10", "r-cran-ggplot2", "x11-apps", "pkg=1:2.3~rc1-1+b2"],
)
def test_debian_package_names(name: str) -> None:
    assert validate_apt_packages([name, f" {name} "]) == (name, name)


@pytest.mark.parametrize(
    "name",
    [
        "vim; curl evil | sh",
        "vim && curl evil",
        "$(reboot)",
        "-o",
        "--allow-unauthenticated",
        "Python3-scipy",
        "a",
        "two words",
        "pkg=",
        "pkg=abc",
        "pkg\n",
        "pkg/bookworm-backports",
        "../x.deb",
        "",
    ],
)
def test_debian_package_names_must_fully_match(name: str) -> None:
    with pytest.raises(PolicyError, match=r"^Extra Debian package 2") as info:
        validate_apt_packages(["python3-scipy", name])
    assert info.value.item == "Debian package 2"


@pytest.mark.parametrize(
    "name",
    [
        "astroquery",
        "emcee>=3.1",
        "astropy[all]==5.3",
        "numpy>=1.20,<2",
        "photutils~=1.6",
        "Django==4.*",
        "zope.interface",
        "my_pkg!=1.0.post1",
        "torch===2.0.0+cpu",
    ],
)
def test_pip_package_names(name: str) -> None:
    assert validate_pip_packages([name]) == (name,)


@pytest.mark.parametrize(
    "name",
    [
        "git+https://github.com/x/y",
        "foo @ https://example.org/foo.whl",
        "foo@https://example.org/foo.whl",
        "-r requirements.txt",
        "--index-url=https://evil.example",
        "-e .",
        "foo; python_version < '3'",
        "foo bar",
        "./local/path",
        "/abs/path.whl",
        "foo>=",
        "foo==1.0;rm",
        "foo`id`",
        "foo\n",
        "_foo",
    ],
)
def test_pip_package_names_must_fully_match(name: str) -> None:
    with pytest.raises(PolicyError, match=r"^Extra pip package 1") as info:
        validate_pip_packages([name])
    assert info.value.item == "pip package 1"


def test_package_lists_are_bounded() -> None:
    with pytest.raises(PolicyError, match="limit is 100"):
        validate_apt_packages([f"pkg{i}" for i in range(MAX_PACKAGES + 1)])
    with pytest.raises(PolicyError, match="characters long"):
        validate_pip_packages(["a" * 201])
    with pytest.raises(PolicyError, match="not text"):
        validate_pip_packages([None])  # type: ignore[list-item]


def test_invisible_characters_are_shown_in_package_messages() -> None:
    with pytest.raises(PolicyError, match=r"'numpy\\u200b'"):
        validate_pip_packages(["numpy\u200b"])


# --- properties --------------------------------------------------------------------

NASTY = st.sampled_from(
    list("\n\r\t\x00\x0b\x0c\x1c\x85\u2028\u2029\u200b\u202e\ufeff\\\"'[]#<>`$ ")
)


@given(st.text(st.one_of(st.characters(), NASTY), max_size=60))
def test_any_text_is_accepted_or_refused_with_a_policy_error(text: str) -> None:
    try:
        command = normalize_command(text, 1)
    except PolicyError as err:
        assert str(err).startswith("Custom command 1 ")
        return
    assert command
    assert all(ch not in command for ch in "\n\r\t\x00\x85\u2028\u2029")
    assert not command.endswith("\\")
    # Nothing is rewritten except an optional leading RUN and the spaces around it.
    assert command in text
