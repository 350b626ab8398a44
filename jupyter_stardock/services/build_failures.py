"""A failed build step, named for the user.

The classic builder's "Step N/M" lines tell which Dockerfile instruction ran,
and the Dockerfile's own section headings (one per app, the extra packages,
"Your commands") tell which part of the recipe wrote it, so the message says
"custom command 2" or "the app Astropy" and quotes the last lines that step
printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..core.buildlog import StepOutput
from ..core.dockerfile import DockerfileSyntaxError, Instruction, parse
from ..core.recipe import BuildSpec

__all__ = ["QUOTED_LINES", "StepPart", "describe_failure", "step_parts", "timeout_sentence"]

#: Lines of a failed step's output quoted in its message.
QUOTED_LINES = 8
_QUOTED_CHARS = 300


@dataclass(frozen=True)
class StepPart:
    """The part of a recipe one Dockerfile instruction comes from."""

    #: What the API's ``item`` calls it ("command 2", "app astropy"), or None.
    item: str | None
    #: How a sentence names it: "Custom command 2 (`pip instal foo`)".
    subject: str
    #: What the user can do when it fails.
    hint: str


_HEADING = re.compile(r"# --- (.+) ---")
_APP_HEADING = re.compile(r"App: (.+) \(([^()]+)\)")
_EXIT_CODE = re.compile(r"returned a non-zero code: (\d+)")


def step_parts(spec: BuildSpec) -> list[StepPart]:
    """One entry per instruction of ``spec.dockerfile``, in the builder's step order.

    The section headings that :func:`.recipe.compose` writes say which part of
    the recipe each instruction belongs to; custom commands are numbered as in
    the recipe (and so as the panel's ``item`` "command N").
    """
    try:
        instructions = parse(spec.dockerfile).instructions
    except DockerfileSyntaxError:
        return []
    headings: list[tuple[int, str]] = [
        (number, match.group(1))
        for number, line in enumerate(spec.dockerfile.split("\n"), start=1)
        if (match := _HEADING.fullmatch(line.strip()))
    ]
    parts: list[StepPart] = []
    command = 0
    for index, instruction in enumerate(instructions, start=1):
        heading = next((h for n, h in reversed(headings) if n < instruction.start_line), None)
        shown = _shorten(_as_written(instruction), 120)
        app = _APP_HEADING.fullmatch(heading or "")
        if heading == "Your commands" and command < len(spec.recipe.commands):
            command += 1
            text = _shorten(spec.recipe.commands[command - 1], 120)
            parts.append(
                StepPart(
                    f"command {command}",
                    f"Custom command {command} (`{text}`)",
                    "Fix that command (try it in a terminal of a running environment), "
                    "then build again.",
                )
            )
        elif app:
            parts.append(
                StepPart(
                    f"app {app.group(2)}",
                    f"Installing the app {app.group(1)} ({app.group(2)})",
                    "This step comes from the catalog, not from your commands: try again "
                    "later (a package mirror may be down), or tell the operator.",
                )
            )
        elif heading == "Extra Debian packages":
            parts.append(
                StepPart(
                    "Debian packages",
                    "Installing the extra Debian packages",
                    "Check the package names (as `apt-cache search` on Debian 12 spells "
                    "them), then build again.",
                )
            )
        elif heading == "Extra pip packages":
            parts.append(
                StepPart(
                    "pip packages",
                    "Installing the extra pip packages",
                    "Check the package names and versions, then build again.",
                )
            )
        else:
            parts.append(
                StepPart(
                    None,
                    f"Step {index} (`{instruction.keyword} {shown}`)",
                    "Build again; if it fails the same way, tell the operator and "
                    "include the build's log.",
                )
            )
    return parts


def describe_failure(
    spec: BuildSpec, output: StepOutput, message: str
) -> tuple[str, dict[str, Any]] | None:
    """The sentence and ``failure`` record for an engine error at ``output.step``, if known."""
    if not output.step or output.done:
        return None  # before the first step, or after the last one: no step to blame
    parts = step_parts(spec)
    if output.step <= len(parts):
        part = parts[output.step - 1]
    else:
        # The builder adds one LABEL step per image label after the Dockerfile's own.
        part = StepPart(
            None,
            f"Step {output.step} (labelling the image)",
            "Build again; if it fails the same way, tell the operator and include the build's log.",
        )
    code = _EXIT_CODE.search(message)
    exit_code = int(code.group(1)) if code else None
    summary = f"{part.subject} failed" + (
        f" with exit code {exit_code}" if exit_code is not None else f": {message.rstrip('.')}"
    )
    quoted = [
        _shorten(line, _QUOTED_CHARS)
        for line in output.tail(QUOTED_LINES, without=f"ERROR: {message}")
    ]
    if quoted:
        text = f"{summary}. Its last output:\n" + "\n".join(f"    {line}" for line in quoted)
    else:
        text = f"{summary}, printing nothing."
    failure = {
        "item": part.item,
        "step": output.step,
        "steps": output.steps,
        "exit_code": exit_code,
        "summary": f"{summary}.",
        "output": quoted,
        "hint": part.hint,
    }
    return f"{text}\n{part.hint}", failure


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def timeout_sentence(spec: BuildSpec, output: StepOutput, timeout: float) -> str:
    """Why a build that ran past ``timeout`` seconds was stopped, naming the step it was at."""
    where = ""
    parts = step_parts(spec)
    if 0 < output.step <= len(parts):
        where = f" during step {output.step}/{output.steps}: {parts[output.step - 1].subject}"
    return (
        f"The build ran longer than the limit of {_duration(timeout)} and was "
        f"stopped{where} (the operator sets the limit with c.StarDockApp.build_timeout)."
    )


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def _as_written(instruction: Instruction) -> str:
    """An instruction's arguments as the Dockerfile has them, for a step's name.

    BuildKit's parser splits ENV, LABEL and ARG into name and value; users read
    ``PIP_CONSTRAINT=/opt/...`` in the Dockerfile, so that is what a step shows.
    """
    if instruction.keyword.upper() in ("ENV", "LABEL", "ARG"):
        _, _, rest = instruction.original.partition(" ")
        if rest.strip():
            return rest.strip()
    return " ".join(instruction.args)
