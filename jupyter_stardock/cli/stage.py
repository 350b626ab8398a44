"""``jupyter stardock stage FILE_LIST``: a dataset made of archive files, staged by the server."""

from __future__ import annotations

import argparse
import sys

from traitlets import Bool, Unicode

from ..client import staging
from .user import ServerCommand

__all__ = ["StageCommand"]


class StageCommand(ServerCommand):
    name = "stage"
    description = """Stage archive files into a dataset the server's kernels can mount.

    Give file references ('archive:id' or a URL an archive serves), a file that
    lists them one per line (@list.txt), or '-' to read them from stdin. Every
    file is checked for access before anything moves; progress goes to stderr.
    """
    examples = """
    jupyter stardock stage @odi-night.txt --dataset odi-night
    jupyter stardock stage tape:raw/obs1.fits tape:raw/obs2.fits --dataset two
    jupyter stardock stage --cancel 3f2a...
    jupyter stardock stage --pin odi-survey      (operators: it never expires)
    """

    dataset = Unicode(None, allow_none=True, config=True, help="The new dataset's id.")
    title = Unicode(None, allow_none=True, config=True, help="The new dataset's title.")
    cancel = Unicode(None, allow_none=True, config=True, help="Cancel this staging request.")
    no_wait = Bool(False, config=True, help="Print the request and return; do not follow it.")
    pin = Unicode(None, allow_none=True, config=True, help="Pin this staged dataset (operators).")
    unpin = Unicode(None, allow_none=True, config=True, help="Unpin this staged dataset.")
    aliases = {
        **ServerCommand.aliases,
        "dataset": "StageCommand.dataset",
        "title": "StageCommand.title",
        "cancel": "StageCommand.cancel",
        "pin": "StageCommand.pin",
        "unpin": "StageCommand.unpin",
    }
    flags = {
        **ServerCommand.flags,
        "no-wait": ({"StageCommand": {"no_wait": True}}, "Do not follow the staging."),
    }

    def run(self) -> None:
        dataset = self.pin or self.unpin
        if dataset:
            reply = staging.pin(self.client(), dataset, pinned=bool(self.pin))
            state = "pinned: it never expires" if reply["pinned"] else "unpinned"
            self.emit(reply, f"The staged dataset {dataset!r} is {state}.")
            return
        if not self.extra_args and not self.cancel:
            self.fail("give the files to stage (archive:id, URLs, @FILE_LIST or -).", status=2)
        args = argparse.Namespace(
            files=self.extra_args,
            dataset=self.dataset,
            title=self.title,
            cancel=self.cancel,
            no_wait=self.no_wait,
        )
        tty = sys.stderr.isatty()

        def show(view: staging.View) -> None:
            line = staging.staging_bar(view)
            sys.stderr.write(f"\r\033[K{line}" if tty else f"{line}\n")
            sys.stderr.flush()

        client = self.client()
        try:
            view = staging.stage_and_follow(client, args, show)
        except KeyboardInterrupt:
            self.fail(
                "interrupted; the staging goes on in the server (cancel it with "
                "`jupyter stardock stage --cancel ID`).",
                status=130,
            )
        if tty:
            sys.stderr.write("\n")
        self.emit(view, staging.outcome(view) if view["state"] != "queued" else view["id"])
        if view["state"] in ("failed",):
            self.exit(1)
