"""A Dockerfile as Docker's parser reads it: BuildKit's own parser, with checks on top.

``recipe.py`` uses it to prove, after rendering, that a generated Dockerfile
holds exactly the instructions it meant to write: no user text became a second
instruction, a parser directive, a heredoc or a builder flag. The reading is
BuildKit's (``moby/buildkit/frontend/dockerfile/parser``, the Go code the
builders use, in the wheel of the PyPI package ``dockerfile``), so what is
checked is what the builder reads, line rules and all.

On top of it, a few checks keep what the binding alone would not, so a check
built on this module fails closed:

- Text that UTF-8 cannot encode (a lone surrogate) crashes the process inside
  the binding, and a NUL character ends the text it hands to Go: both are
  refused before the call, or the parser would see less than the builder.
- A line ending in an escaped escape character (``\\\\``) is refused: BuildKit
  (0.9 and later) ends the instruction there, while the classic builder of
  Docker 20.10, which this project drives, continues it onto the next line.
- The binding returns neither the parser directives, nor the text after a JSON
  array (which Docker ignores without a word), nor an ONBUILD's heredocs; they
  are read here, so a check can refuse them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

# The PyPI package "dockerfile": BuildKit's parser compiled into the wheel.
import dockerfile as buildkit

from ..errors import DockerfileSyntaxError

__all__ = ["Dockerfile", "DockerfileSyntaxError", "Instruction", "parse"]

# Go's unicode.IsSpace, which BuildKit trims with. Python's str.strip also
# counts \x1c-\x1f, which Go does not.
_GO_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# BuildKit's directive regexp; Go's \s is [\t\n\f\r ].
_DIRECTIVE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z"
)
# "check" is read by BuildKit 0.14 and later only: counted, so a check that
# refuses directives refuses it for every version.
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC_COMMANDS = frozenset({"RUN", "COPY", "ADD"})


class _Heredoc(Protocol):
    name: str


class _Command(Protocol):
    """What the binding returns per instruction (a NamedTuple; the wheel has no types)."""

    # The binding gives None for an empty string (a file of a lone "\\").
    cmd: str | None  # as written, not case-folded
    sub_cmd: str | None  # the instruction inside ONBUILD, whose value and json follow
    json: bool
    original: str | None  # the logical line, then any heredoc bodies
    start_line: int
    end_line: int
    flags: tuple[str, ...]
    value: tuple[str, ...]
    heredocs: tuple[_Heredoc, ...]


@dataclass(frozen=True)
class Instruction:
    """One instruction as BuildKit's parser sees it.

    ``args`` are BuildKit's values: the decoded array for JSON form, the raw
    text of a shell-form RUN, CMD or ENTRYPOINT, the words of FROM or COPY, the
    names and values of ENV. ``trailing`` is text after a JSON array, which
    Docker ignores without a word. ``original`` is the logical line as written.
    """

    keyword: str
    args: tuple[str, ...] = ()
    json: bool = False
    flags: tuple[str, ...] = ()
    heredocs: tuple[str, ...] = ()
    trailing: str = ""
    sub: Instruction | None = None  # the instruction inside ONBUILD
    start_line: int = field(default=0, compare=False)
    end_line: int = field(default=0, compare=False)
    original: str = field(default="", compare=False)


@dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    #: The parser directives at the top of the file (lower-case names).
    directives: dict[str, str]
    escape: str


def _split_lines(text: str) -> list[str]:
    """Lines as BuildKit's scanner counts them: split after each "\\n", endings kept."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _is_comment(line: str) -> bool:
    return line.lstrip(_GO_SPACE).startswith("#")


def _refuse_what_the_binding_cannot_pass(lines: Sequence[str]) -> None:
    for number, line in enumerate(lines, start=1):
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            raise DockerfileSyntaxError(
                "holds a broken character (an unpaired surrogate)", number
            ) from None
        if "\x00" in line:
            raise DockerfileSyntaxError("holds a NUL character", number)


def _directives(lines: Sequence[str]) -> dict[str, str]:
    """The directives BuildKit reads before the first line that is not one."""
    found: dict[str, str] = {}
    for line in lines:
        match = _DIRECTIVE.match(line.rstrip("\r\n").lstrip(_GO_SPACE))
        if not match or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            break
        # A second one of a name is BuildKit's to refuse.
        found.setdefault(match.group(1).lower(), match.group(2))
    return found


def _refuse_escaped_escapes(lines: Sequence[str], escapes: set[str]) -> None:
    """Lines that Docker versions join differently (see the module's docstring)."""
    for number, line in enumerate(lines, start=1):
        body = line.rstrip("\r\n").rstrip(" \t")
        if not _is_comment(line) and any(body.endswith(e + e) for e in escapes):
            raise DockerfileSyntaxError(
                "ends in an escaped escape character, which Docker versions read differently",
                number,
            )


def _buildkit(text: str) -> tuple[_Command, ...]:
    try:
        return tuple(buildkit.parse_string(text))
    except buildkit.GoParseError as err:
        message = str(err)
    # BuildKit's errors name no line: the first part of the file that fails the
    # same way does (this runs only on failure).
    lines = _split_lines(text)
    for end in range(1, len(lines) + 1):
        try:
            buildkit.parse_string("".join(lines[:end]))
        except buildkit.GoParseError as err:
            if str(err) == message:
                raise DockerfileSyntaxError(message, end) from None
    raise DockerfileSyntaxError(message, len(lines))


def _trailing(command: _Command) -> str:
    """The text after the JSON array of ``command`` (Go's json.Decoder stops there)."""
    decoder = json.JSONDecoder(strict=True)
    original = command.original or ""
    for match in re.finditer(r"\[", original):
        try:
            decoded, end = decoder.raw_decode(original, match.start())
        except ValueError:
            continue
        # The first array that decodes to BuildKit's values: the one it read, or
        # one inside a builder flag before it, which leaves more text after it
        # (the real array too), never less.
        if decoded == list(command.value):
            return original[end:].rstrip(_GO_SPACE)
    raise DockerfileSyntaxError(
        "holds a JSON array that Python and Docker decode differently", command.start_line
    )


def _onbuild_heredocs(command: _Command, lines: Sequence[str], escape: str) -> tuple[str, ...]:
    """Parse the instruction inside ONBUILD again, alone, for its heredocs."""
    if (command.sub_cmd or "").upper() not in _HEREDOC_COMMANDS or command.json:
        return ()
    first = re.sub(r"\A[^\S\n]*\S+", "", lines[command.start_line - 1], count=1)
    directive = "" if escape == "\\" else f"# escape={escape}\n"
    alone = directive + first + "".join(lines[command.start_line : command.end_line])
    again = _buildkit(alone)
    read_alone = [((c.cmd or "").upper(), c.value) for c in again]
    if read_alone != [((command.sub_cmd or "").upper(), command.value)]:
        raise DockerfileSyntaxError(
            "holds an ONBUILD instruction that cannot be read alone", command.start_line
        )
    return tuple(h.name for h in again[0].heredocs)


def _instruction(command: _Command, lines: Sequence[str], escape: str) -> Instruction:
    keyword = (command.cmd or "").upper()
    args = tuple(command.value)
    trailing = _trailing(command) if command.json else ""
    # The logical line: heredoc bodies follow it in the binding's "original".
    original = (command.original or "").partition("\n")[0]
    if command.sub_cmd:
        return Instruction(
            keyword,
            flags=tuple(command.flags),
            heredocs=_onbuild_heredocs(command, lines, escape),
            sub=Instruction(command.sub_cmd.upper(), args, json=command.json, trailing=trailing),
            start_line=command.start_line,
            end_line=command.end_line,
            original=original,
        )
    return Instruction(
        keyword,
        args,
        json=command.json,
        flags=tuple(command.flags),
        heredocs=tuple(h.name for h in command.heredocs),
        trailing=trailing,
        start_line=command.start_line,
        end_line=command.end_line,
        original=original,
    )


def parse(text: str) -> Dockerfile:
    """Parse Dockerfile ``text`` into its instructions, as Docker would."""
    lines = _split_lines(text)
    _refuse_what_the_binding_cannot_pass(lines)
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    directives = _directives(lines)
    escape = directives.get("escape", "\\")
    commands = _buildkit(text)
    # Both escape characters: BuildKit before 0.14 stops reading directives at
    # "check", and so may read "\\" where a later "escape" directive says "`".
    _refuse_escaped_escapes(lines, {"\\", escape})
    return Dockerfile(tuple(_instruction(c, lines, escape) for c in commands), directives, escape)
