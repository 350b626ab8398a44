"""The Dockerfile parser: BuildKit's own, with the checks this project adds on top.

These are the edge cases the hand-written parser was tested on, kept as tests of
BuildKit's. Where BuildKit reads a file differently from the old parser, BuildKit
is the truth and the test says so; where the old test guarded a property (text
that Docker versions read differently, text the binding cannot pass whole), the
property is kept by a check in core/dockerfile.py and tested here.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_stardock.core.dockerfile import Instruction, parse
from jupyter_stardock.errors import DockerfileSyntaxError


def test_parser_continuations_comments_and_flags() -> None:
    text = (
        "\ufeffFROM x\r\n"
        "RUN a \\\n"
        "# a comment inside\n"
        "\n"
        "    b \\  \n"
        "  c\n"
        'COPY --chown=1:1 --from="st age" a b\n'
        "   # indented comment\n"
        'run ["x"]  \n'
    )
    got = parse(text).instructions
    assert got == (
        Instruction("FROM", ("x",)),
        Instruction("RUN", ("a     b   c",)),
        # BuildKit reads COPY's shell form as its words (the old parser kept the text).
        Instruction("COPY", ("a", "b"), flags=("--chown=1:1", "--from=st age")),
        Instruction("RUN", ("x",), json=True),
    )
    assert (got[1].start_line, got[1].end_line) == (2, 6)
    assert got[2].original == 'COPY --chown=1:1 --from="st age" a b'


def test_parser_directives_only_at_the_top() -> None:
    top = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n  b\n")
    assert top.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert top.escape == "`"
    assert top.instructions[1] == Instruction("RUN", ("a   b",))
    late = parse("# hello\n# escape=`\nFROM x\nRUN a \\\n  b\n")
    assert late.directives == {} and late.instructions[1] == Instruction("RUN", ("a   b",))
    with pytest.raises(DockerfileSyntaxError, match="only one escape"):
        parse("# escape=`\n# escape=`\nFROM x\n")
    with pytest.raises(DockerfileSyntaxError, match="invalid escape"):
        parse("# escape=x\nFROM x\n")


def test_directives_are_found_for_every_builder_version() -> None:
    # A byte-order mark and spaces do not hide a directive.
    assert parse("\ufeff  # escape = ` \nFROM x\n").directives == {"escape": "`"}
    # An unknown one ends the directives, in every version.
    assert parse("# foo=bar\n# escape=`\nFROM x\n").directives == {}
    # "check" ends them for BuildKit before 0.14 and not after: it is counted,
    # so the recipe's check (no directives at all) refuses both readings.
    assert parse("# check=skip=all\n# escape=`\nFROM x\n").directives == {
        "check": "skip=all",
        "escape": "`",
    }


def test_parser_json_or_shell_form() -> None:
    got = parse(
        'FROM x\nRUN ["a", "b c"]\nRUN [not json] && x\nRUN ["a"] && rm -rf /\nCMD ["a\\u00e9"]\n'
    ).instructions
    assert got[1] == Instruction("RUN", ("a", "b c"), json=True)
    assert got[2] == Instruction("RUN", ("[not json] && x",))
    assert got[3].json and got[3].args == ("a",) and got[3].trailing == " && rm -rf /"
    assert got[4].args == ("aé",)
    with pytest.raises(DockerfileSyntaxError, match="strings only"):
        parse('FROM x\nRUN ["a", 1]\n')


def test_text_after_a_json_array_is_never_missed() -> None:
    got = parse('FROM x\nRUN --x=["a"] ["a"] tail\nRUN ["a"]\r\nONBUILD RUN ["b"] t\n').instructions
    # A builder flag that holds the same array is taken for it: more text is
    # counted as trailing than Docker ignores, never less.
    assert got[1].flags == ("--x=[a]",) and got[1].trailing == ' ["a"] tail'
    assert got[2] == Instruction("RUN", ("a",), json=True)
    assert got[3].sub == Instruction("RUN", ("b",), json=True, trailing=" t")


def test_a_json_array_read_differently_by_python_and_go_is_refused() -> None:
    # Go decodes a lone surrogate escape to U+FFFD; a check built on Python's
    # reading would compare something else than what the builder runs.
    with pytest.raises(DockerfileSyntaxError, match=r"line 2: .*decode differently"):
        parse('FROM x\nRUN ["\\ud800"]\n')


def test_parser_heredocs_swallow_lines() -> None:
    got = parse(
        "FROM x\nRUN cat <<EOF >/a && cat <<-'END'\nUSER root\nEOF\n\t\tEND\nUSER me\n"
    ).instructions
    assert got[1].heredocs == ("EOF", "END")
    assert got[1].original == "RUN cat <<EOF >/a && cat <<-'END'"
    assert [i.keyword for i in got] == ["FROM", "RUN", "USER"]
    assert parse('FROM x\nRUN ["cat", "<<EOF"]\nUSER a\n').instructions[2].keyword == "USER"
    with pytest.raises(DockerfileSyntaxError, match="line 2: unterminated heredoc"):
        parse("FROM x\nRUN cat <<EOF\nno end\n")


def test_parser_refuses_what_docker_versions_read_differently() -> None:
    with pytest.raises(DockerfileSyntaxError, match="line 2: ends in an escaped escape"):
        parse("FROM x\nRUN echo \\\\\nUSER root\n")
    with pytest.raises(DockerfileSyntaxError, match="line 3: ends in an escaped escape"):
        parse("# escape=`\nFROM x\nRUN echo `` \nUSER root\n")
    # In a comment it joins nothing, in any version.
    assert len(parse("FROM x\n# a \\\\\nUSER root\n").instructions) == 2
    # BuildKit's own words, and the line it names.
    with pytest.raises(DockerfileSyntaxError, match=r"line 2: .*greater than max allowed size"):
        parse("FROM x\nRUN " + "x" * 70000 + "\n")
    with pytest.raises(DockerfileSyntaxError, match="no instructions"):
        parse("# only\n\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # The binding hands Go the text up to the first NUL: USER root would be unseen.
        ("FROM x\nRUN a\x00\nUSER root\n", "line 2: holds a NUL"),
        # The binding crashes the process on text UTF-8 cannot encode.
        ("FROM x\nRUN a\ud800\n", "line 2: holds a broken character"),
    ],
)
def test_text_the_binding_cannot_pass_whole_is_refused(text: str, problem: str) -> None:
    with pytest.raises(DockerfileSyntaxError, match=problem):
        parse(text)


def test_parser_onbuild_and_unknown_words() -> None:
    got = parse("FROM x\nONBUILD RUN cat <<EOF\nbody\nEOF\nBOGUS words here\n").instructions
    assert got[1].sub == Instruction("RUN", ("cat <<EOF",)) and got[1].heredocs == ("EOF",)
    assert (got[1].start_line, got[1].end_line) == (2, 4)
    escaped = parse("# escape=`\nFROM x\nONBUILD RUN a `\n  <<EOF\nbody\nEOF\n").instructions[1]
    assert escaped.sub == Instruction("RUN", ("a   <<EOF",)) and escaped.heredocs == ("EOF",)
    # BuildKit keeps no words of an instruction it does not know; the line keeps them.
    assert got[2] == Instruction("BOGUS", ("",))
    assert got[2].original == "BOGUS words here"


def test_lines_split_on_newlines_only() -> None:
    # Other line breaks stay inside the instruction (the policy refuses them in
    # user text, so that every tool shows the line as Docker reads it).
    for brk in ("\r", "\u2028", "\x85", "\x0b"):
        got = parse(f"FROM x\nRUN a{brk}USER root\n").instructions
        assert got[1] == Instruction("RUN", (f"a{brk}USER root",))


DOCKERFILE_TEXT = st.lists(
    st.one_of(
        st.characters(),
        st.sampled_from(
            ["\n", "\\", "`", "RUN ", "ONBUILD ", "# escape=`", "<<EOF", '["a"]', "--x"]
        ),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(DOCKERFILE_TEXT)
def test_any_text_parses_or_is_refused_with_a_line(text: str) -> None:
    # Never a crash of the process (the binding's) nor another exception.
    try:
        parsed = parse(text)
    except DockerfileSyntaxError as err:
        assert err.line >= 0
        return
    assert parsed.instructions
