"""A small Dockerfile parser that reads a file the way Docker's own parser does.

``recipe.py`` uses it to prove, after rendering, that a generated Dockerfile
holds exactly the instructions it meant to write: no user text became a second
instruction, a parser directive, a heredoc or a builder flag. It follows the
parser that both the classic builder and BuildKit use
(``moby/buildkit/frontend/dockerfile/parser``): lines split on ``\\n`` only, a
byte-order mark dropped, parser directives at the very top, whole-line
comments, line continuations with the escape character, builder flags,
JSON-or-shell form with the shell-form fallback when the JSON does not decode,
and heredocs on RUN/COPY/ADD in shell form.

Where Docker versions disagree (the line-continuation rule changed in BuildKit
0.9), or where Docker would silently ignore text (anything after the JSON
array), the parser records it or refuses, so a check built on it fails closed.
It is not a general Dockerfile library: arguments of instructions other than
the JSON forms are kept as the raw text Docker hands to its line parsers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..errors import DockerfileSyntaxError

__all__ = ["Dockerfile", "DockerfileSyntaxError", "Instruction", "parse"]

# Go's unicode.IsSpace: the Unicode White_Space property. Python's str.isspace
# also counts \x1c-\x1f, which Go does not.
_GO_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# The scanner refuses a line of bufio.MaxScanTokenSize (64 KiB) or more.
_MAX_LINE_BYTES = 64 * 1024 - 1
_WHITESPACE = re.compile(r"[\t\x0b\x0c\r ]+")  # reWhitespace in split_command.go
# Go's \s is [\t\n\f\r ]; "." does not match "\n".
_DIRECTIVE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z"
)
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC = re.compile(r"(\d*)<<(-?)([^<]*)\Z")
_HEREDOC_COMMANDS = frozenset({"run", "copy", "add"})
_JSON_COMMANDS = frozenset({"run", "cmd", "entrypoint", "shell"})  # parseMaybeJSON
_JSON_LIST_COMMANDS = frozenset({"copy", "add", "volume"})  # parseMaybeJSONToList


@dataclass(frozen=True)
class Instruction:
    """One instruction as Docker's parser sees it.

    ``args`` is the decoded array for JSON form, otherwise the raw argument
    text as a one-element tuple (empty when there is none). ``trailing`` is
    text after a JSON array, which Docker ignores without a word.
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


@dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    directives: dict[str, str]
    escape: str


def _lstrip_go(s: str) -> str:
    return s.lstrip(_GO_SPACE)


def _strip_go(s: str) -> str:
    return s.strip(_GO_SPACE)


def _is_comment(line: str) -> bool:
    return _lstrip_go(line).startswith("#")


def _continuation(line: str, escape: str, number: int) -> tuple[str, bool]:
    """Strip a trailing escape character; return (line, continues)."""
    e = re.escape(escape)
    # BuildKit >= 0.9 (and so Docker >= 20.10.? with BuildKit, and 23+):
    new = re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")
    # The classic builder of Docker 20.10 vendors the older rule:
    old = re.compile(rf"{e}[ \t]*\Z")
    new_match, old_match = new.search(line), old.search(line)
    if bool(new_match) != bool(old_match):
        raise DockerfileSyntaxError(
            "ends in an escaped escape character, which Docker versions read differently",
            number,
        )
    if new_match:
        return line[: new_match.start()] + (new_match.group(1) or ""), True
    return line, False


def _builder_flags(rest: str, escape: str) -> tuple[str, tuple[str, ...]]:
    """extractBuilderFlags: leading ``--name=value`` words of an instruction."""
    words: list[str] = []
    pos = 0
    while True:
        while pos < len(rest) and rest[pos] in _GO_SPACE:
            pos += 1
        if not rest.startswith("--", pos):
            return rest[pos:], tuple(words)
        word: list[str] = []
        quote = ""
        blank_ok = False
        while pos < len(rest):
            ch = rest[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == escape and pos + 1 < len(rest):
                    pos += 1
                    word.append(rest[pos])
                elif ch != escape:
                    word.append(ch)
                pos += 1
                continue
            if ch in _GO_SPACE:
                break
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if pos + 1 < len(rest):
                    pos += 1
                    word.append(rest[pos])
            else:
                word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return rest[pos:], tuple(words)
        if blank_ok or text:
            words.append(text)
        if pos >= len(rest):
            return "", tuple(words)


def _parse_json(rest: str, number: int) -> tuple[tuple[str, ...], str] | None:
    """parseJSON: the decoded array and what follows it, or None to fall back."""
    rest = _lstrip_go(rest)
    if not rest.startswith("["):
        return None
    try:
        value, end = json.JSONDecoder(strict=True).raw_decode(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise DockerfileSyntaxError(
            "when using JSON array syntax, arrays must be comprised of strings only", number
        )
    return tuple(value), rest[end:]


def _node(line: str, escape: str, number: int) -> Instruction:
    """newNodeFromLine for one logical line."""
    parts = _WHITESPACE.split(_strip_go(line), maxsplit=1)
    keyword = parts[0]
    rest, flags = ("", ()) if len(parts) == 1 else _builder_flags(parts[1], escape)
    rest = _strip_go(rest)
    lower = keyword.lower()
    if lower == "onbuild" and rest:
        return Instruction(keyword.upper(), flags=flags, sub=_node(rest, escape, number))
    if rest and (lower in _JSON_COMMANDS or lower in _JSON_LIST_COMMANDS):
        decoded = _parse_json(rest, number)
        if decoded is not None:
            args, trailing = decoded
            return Instruction(keyword.upper(), args, json=True, flags=flags, trailing=trailing)
    return Instruction(keyword.upper(), (rest,) if rest else (), flags=flags)


def _heredoc_words(line: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept (shell.Lex, raw mode)."""
    words, word, quote, i = [], [], "", 0
    while i < len(line):
        ch = line[i]
        if quote:
            word.append(ch)
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(line):
                i += 1
                word.append(line[i])
        elif ch in " \t":
            if word:
                words.append("".join(word))
            word = []
        else:
            word.append(ch)
            if ch in "'\"":
                quote = ch
            elif ch == "\\" and i + 1 < len(line):
                i += 1
                word.append(line[i])
        i += 1
    if word:
        words.append("".join(word))
    return words


def _heredocs(line: str) -> list[tuple[str, bool]]:
    """(terminator, strip leading tabs) for each heredoc a line opens."""
    found = []
    for word in _heredoc_words(line):
        match = _HEREDOC.match(word)
        if match and match.group(3):
            name = re.sub(r"""\\(.)|['"]""", r"\1", match.group(3))
            found.append((name, match.group(2) == "-"))
    return found


def _split_lines(text: str) -> list[str]:
    """bufio.Scanner with Docker's scanLines: split after each "\\n", keep endings."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def parse(text: str) -> Dockerfile:
    """Parse Dockerfile ``text`` into its instructions, as Docker would."""
    lines = _split_lines(text)
    for number, raw in enumerate(lines, start=1):
        if len(raw.encode("utf-8", "surrogatepass")) > _MAX_LINE_BYTES:
            raise DockerfileSyntaxError("is longer than Docker's 64 KiB line limit", number)
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")

    escape = "\\"
    directives: dict[str, str] = {}
    directives_done = False
    instructions: list[Instruction] = []

    def process(raw: str, strip_left: bool, number: int) -> str:
        nonlocal escape, directives_done
        token = raw.rstrip("\r\n")
        if strip_left:
            token = _lstrip_go(token)
        if not directives_done:
            match = _DIRECTIVE.match(token)
            key = match.group(1).lower() if match else ""
            if key in _KNOWN_DIRECTIVES and match:
                if key in directives:
                    raise DockerfileSyntaxError(
                        f"only one {key} parser directive can be used", number
                    )
                directives[key] = match.group(2)
                if key == "escape":
                    if match.group(2) not in ("\\", "`"):
                        raise DockerfileSyntaxError(
                            f"invalid escape token {match.group(2)!r}", number
                        )
                    escape = match.group(2)
            else:
                directives_done = True
        return "" if _is_comment(token) else token

    i = 0
    while i < len(lines):
        token = process(lines[i], True, i + 1)
        i += 1
        start = i
        line, continues = _continuation(token, escape, i)
        if not continues and not line:
            continue
        buffer = [line]
        while continues and i < len(lines):
            raw = lines[i]
            token = process(raw, False, i + 1)
            i += 1
            if _is_comment(raw) or not _lstrip_go(token):
                continue
            token, continues = _continuation(token, escape, i)
            buffer.append(token)
        logical = "".join(buffer)
        node = _node(logical, escape, start)

        target = node.sub if node.sub is not None else node
        names: list[str] = []
        if target.keyword.lower() in _HEREDOC_COMMANDS and not target.json and "<<" in logical:
            for name, chomp in _heredocs(logical):
                while True:
                    if i >= len(lines):
                        raise DockerfileSyntaxError("unterminated heredoc", start)
                    candidate = lines[i].rstrip("\r\n")
                    i += 1
                    if (candidate.lstrip("\t") if chomp else candidate) == name:
                        break
                names.append(name)
        instructions.append(
            Instruction(
                node.keyword,
                node.args,
                json=node.json,
                flags=node.flags,
                heredocs=tuple(names),
                trailing=node.trailing,
                sub=node.sub,
                start_line=start,
                end_line=i,
            )
        )
    if not instructions:
        raise DockerfileSyntaxError("file with no instructions", len(lines))
    return Dockerfile(tuple(instructions), directives, escape)
