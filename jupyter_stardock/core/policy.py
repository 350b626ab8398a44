"""What a user may put into a recipe: custom commands and extra package names.

This is the one place that decides. Safety does not rest on a list of
forbidden words: ``recipe.py`` renders every custom command in Dockerfile JSON
exec form, ``RUN ["/bin/sh", "-c", "<command>"]``, which the Dockerfile parser
cannot read as anything but one RUN, and then re-parses the whole file to prove
it. The rules here keep that rendering exact (no character that changes how the
file splits into lines) and bounded, and turn the mistakes people really make
(a pasted line break, a ``COPY`` line, a trailing ``\\``) into a sentence that
says what to do, before a build is started for nothing.

Package names are spliced into shell commands, so they must *fully* match a
strict grammar; they are shell-quoted on top of that.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from collections.abc import Sequence

from ..errors import PolicyError

__all__ = [
    "MAX_COMMANDS",
    "MAX_COMMAND_CHARS",
    "MAX_PACKAGES",
    "MAX_PACKAGE_CHARS",
    "MAX_TOTAL_CHARS",
    "command_problem",
    "normalize_command",
    "normalize_commands",
    "text_problem",
    "validate_apt_packages",
    "validate_pip_packages",
]

#: Longest custom command, in characters, after an optional leading ``RUN``.
MAX_COMMAND_CHARS = 2000
#: Most custom commands in one recipe; each becomes one image layer, and an
#: image may hold only about 125 layers in all.
MAX_COMMANDS = 50
#: Most characters over all custom commands of one recipe.
MAX_TOTAL_CHARS = 20000
#: Most names in each of the "extra Debian packages" and "extra pip packages" fields.
MAX_PACKAGES = 100
#: Longest single package name, with its version.
MAX_PACKAGE_CHARS = 200

# Characters that end a line somewhere: in Python's str.splitlines, in Unicode
# (NEL, LS, PS) or in a terminal. Go's Dockerfile scanner splits on "\n" only,
# but a command must read the same in every tool that shows it.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

# A user writing "RUN pip install x" or "COPY a b" means a Dockerfile line. The
# first is accepted (the prefix is dropped); the rest would reach /bin/sh and
# fail there, so they are refused with a sentence instead. Upper case only:
# "env FOO=1 make" and "add-apt-repository" are ordinary shell commands.
_INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER "
    "ONBUILD RUN SHELL STOPSIGNAL USER VOLUME WORKDIR".split()
)
_RUN_PREFIX = re.compile(r"run(?: +|$)", re.IGNORECASE)
_FIRST_WORD = re.compile(r"[A-Za-z]+(?= |$)")

# Debian policy: lower case letters, digits, + - . ; at least two characters,
# starting with a letter or digit. An optional "=version" pins a version.
_APT_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(?:=(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*)?")

# PEP 508 names and extras, with PEP 440 version clauses; no spaces, no
# environment markers, no URLs, paths or options.
_PIP_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PIP_CLAUSE = r"(?:~=|===|==|!=|<=|>=|<|>)v?[0-9][A-Za-z0-9.*+!_-]*"
_PIP_PACKAGE = re.compile(
    rf"{_PIP_NAME}(?:\[{_PIP_NAME}(?:,{_PIP_NAME})*\])?(?:{_PIP_CLAUSE}(?:,{_PIP_CLAUSE})*)?"
)


def _count(n: int) -> str:
    return f"{n:,}"


def _char_name(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}".rstrip()


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot stand on one Dockerfile line, or None if it can.

    The answer is a phrase to follow a subject ("Custom command 2 ..."). Tabs are
    refused with the rest of the control characters: they are invisible in the
    panel and never needed in a one-line shell command.
    """
    for position, ch in enumerate(text, start=1):
        if ch in _LINE_BREAKS:
            return "contains a line break; write each command on its own line."
        if ch == "\t":
            return "contains a tab character; use spaces instead."
        category = unicodedata.category(ch)
        if category == "Cs":
            return (
                f"contains a broken character (an unpaired surrogate) at position {position};"
                " retype the command."
            )
        if category in ("Cc", "Cf"):
            return (
                f"contains an invisible character ({_char_name(ch)}) at position {position};"
                " retype that part of the command, or paste it as plain text."
            )
        if category == "Zs" and ch != " ":
            return (
                f"contains a special space ({_char_name(ch)}) at position {position};"
                " use ordinary spaces."
            )
    return None


def command_problem(command: str) -> str | None:
    """Why a one-line shell command (leading ``RUN`` already removed) is refused, or None."""
    if not command:
        return "is empty; remove it or write a shell command."
    problem = text_problem(command)
    if problem is not None:
        return problem
    if len(command) > MAX_COMMAND_CHARS:
        return (
            f"is {_count(len(command))} characters long; the limit is"
            f" {_count(MAX_COMMAND_CHARS)}. Split it into several commands."
        )
    if command.endswith("\\"):
        return (
            "ends with a backslash, which would join it to the next line;"
            " write each command complete on its own line (join steps with &&)."
        )
    first = _FIRST_WORD.match(command)
    if first and first.group() in _INSTRUCTIONS:
        return (
            f"starts with {first.group()}, a Dockerfile instruction; only shell commands"
            " can be used here, and each one is run as its own RUN step"
            " (for example: pip install astroquery)."
        )
    if command.startswith("--"):
        option = command.split(" ", 1)[0].split("=", 1)[0]
        return (
            f"starts with the build option {option}, which cannot be used here;"
            " write only the shell command."
        )
    if command.startswith("["):
        try:
            argv = json.loads(command)
        except ValueError:
            argv = None
        if isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv):
            return (
                "is written as a JSON list; write it as a plain shell command instead,"
                f" for example: {shlex.join(argv)}"
            )
    return None


def normalize_command(line: str, index: int) -> str:
    """Return the shell command of custom command number ``index`` (counted from 1).

    Spaces around the command and one leading ``RUN`` (any case) are dropped.
    Raises :class:`PolicyError` naming the command and the reason.
    """
    subject = f"Custom command {index}"
    if not isinstance(line, str):
        raise PolicyError(f"{subject} is not text.", item=f"command {index}")
    command = line.strip(" \t")
    match = _RUN_PREFIX.match(command)
    if match:
        command = command[match.end() :]
    problem = command_problem(command)
    if problem is not None:
        raise PolicyError(f"{subject} {problem}", item=f"command {index}")
    return command


def normalize_commands(lines: Sequence[str]) -> tuple[str, ...]:
    """Normalize every custom command of a recipe, in order, within the limits."""
    if len(lines) > MAX_COMMANDS:
        raise PolicyError(
            f"The recipe has {_count(len(lines))} custom commands; the limit is"
            f" {_count(MAX_COMMANDS)}. Join related steps with && on one line.",
            item="commands",
        )
    commands = tuple(normalize_command(line, i) for i, line in enumerate(lines, start=1))
    total = sum(len(c) for c in commands)
    if total > MAX_TOTAL_CHARS:
        raise PolicyError(
            f"The custom commands are {_count(total)} characters long in all; the limit is"
            f" {_count(MAX_TOTAL_CHARS)}. Install what you can through the app list"
            " or the package fields instead.",
            item="commands",
        )
    return commands


def _validate_names(
    names: Sequence[str], *, what: str, pattern: re.Pattern[str], hint: str
) -> tuple[str, ...]:
    if len(names) > MAX_PACKAGES:
        raise PolicyError(
            f"The recipe lists {_count(len(names))} extra {what}s; the limit is"
            f" {_count(MAX_PACKAGES)}.",
            item=f"{what}s",
        )
    cleaned = []
    for index, name in enumerate(names, start=1):
        item = f"{what} {index}"
        if not isinstance(name, str):
            raise PolicyError(f"Extra {what} {index} is not text.", item=item)
        name = name.strip(" ")
        if not name:
            raise PolicyError(f"Extra {what} {index} is empty; remove it.", item=item)
        if len(name) > MAX_PACKAGE_CHARS:
            raise PolicyError(
                f"Extra {what} {index} is {_count(len(name))} characters long; the limit is"
                f" {_count(MAX_PACKAGE_CHARS)}.",
                item=item,
            )
        if not pattern.fullmatch(name):
            # ascii() keeps an invisible character visible in the message.
            shown = repr(name) if text_problem(name) is None else ascii(name)
            raise PolicyError(f"Extra {what} {index}, {shown}, {hint}", item=item)
        cleaned.append(name)
    return tuple(cleaned)


def validate_apt_packages(names: Sequence[str]) -> tuple[str, ...]:
    """Check the "extra Debian packages" field; return the names with spaces trimmed."""
    return _validate_names(
        names,
        what="Debian package",
        pattern=_APT_PACKAGE,
        hint=(
            "is not a Debian package name. Names use lower-case letters, digits and"
            " the signs + - . (for example: python3-scipy, or python3-scipy=1.10.1-2"
            " for one version); write one package per entry."
        ),
    )


def validate_pip_packages(names: Sequence[str]) -> tuple[str, ...]:
    """Check the "extra pip packages" field; return the names with spaces trimmed."""
    return _validate_names(
        names,
        what="pip package",
        pattern=_PIP_PACKAGE,
        hint=(
            "is not a package name with an optional version (for example: astroquery,"
            " emcee>=3.1 or astropy[all]==5.3). Links, file paths, spaces and pip options"
            " cannot be used here; write one package per entry."
        ),
    )
