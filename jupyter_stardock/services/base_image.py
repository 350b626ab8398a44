"""The base image every environment is built FROM, made with or without a registry.

Two ways in:

* ``upstream``: an image such as ``debian:bookworm-slim``, used if present and
  pulled otherwise (needs a reachable registry);
* ``bootstrap``: ``debootstrap --variant=minbase`` into a temporary folder and
  ``docker import`` of it, for air-gapped sites whose only outside source is a
  Debian mirror.

On top goes ``images/base/Dockerfile`` (kernel runtime, non-root user, CA
certificates). The image is tagged ``stardock/base:<hash>``, where the hash
covers everything it was built from (the Dockerfile and scripts, the FROM
image's id, the extra CA certificates), and ``stardock/base:latest`` is moved
to it only once it is complete. Asking again for the same inputs finds the
tag and builds nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._version import __version__
from ..core.content_hash import hash_parts
from ..engine import Engine, ImageInfo
from ..errors import BaseImageError, EngineError, StarDockError
from ..labels import BaseImageLabels
from ..paths import images_dir
from .registry import RegistryService

__all__ = [
    "BaseImageRequest",
    "BaseImageResult",
    "base_content_hash",
    "ensure_base_image",
    "host_debian_mirror",
    "push_base_image",
    "read_extra_certs",
]

ROOTFS_REPOSITORY = "stardock/rootfs"

Log = Callable[[str], None]


@dataclass(frozen=True)
class BaseImageRequest:
    """What the base image is made from; every field is an input of its tag."""

    repository: str = "stardock/base"
    upstream: str = "debian:bookworm-slim"
    bootstrap: bool = False
    suite: str = "bookworm"
    mirror: str | None = None
    extra_ca: Sequence[Path] = field(default_factory=tuple)
    rebuild: bool = False

    @property
    def alias(self) -> str:
        """The moving tag the server uses to find the current base image."""
        return f"{self.repository}:latest"


@dataclass(frozen=True)
class BaseImageResult:
    image: ImageInfo
    tag: str
    built: bool
    from_ref: str


def read_extra_certs(paths: Sequence[Path | str]) -> dict[str, bytes]:
    """Read extra CA certificates, named for the image's ca-certificates folder.

    Raises BaseImageError, naming the file, when one is missing, unreadable or
    not a PEM certificate.
    """
    certs: dict[str, bytes] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            data = path.read_bytes()
        except OSError as err:
            raise BaseImageError(
                f"Cannot read the extra CA certificate {path}: {err.strerror or err}. "
                "Give the path of a readable PEM file (for example one from "
                "/usr/local/share/ca-certificates/)."
            ) from err
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise BaseImageError(
                f"The extra CA certificate {path} is not a PEM certificate "
                "(no '-----BEGIN CERTIFICATE-----' line). Convert it with "
                "`openssl x509 -inform der -in FILE -out FILE.crt`."
            )
        # update-ca-certificates only picks up *.crt; keep names unique and stable.
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem) or "ca"
        name = f"{stem}.crt"
        n = 1
        while name in certs:
            n += 1
            name = f"{stem}-{n}.crt"
        certs[name] = data
    return certs


def host_debian_mirror(
    sources: Sequence[Path] = (
        Path("/etc/apt/sources.list.d/debian.sources"),
        Path("/etc/apt/sources.list"),
    ),
) -> str | None:
    """The Debian mirror this host's apt uses (deb822 or one-line format), if any."""
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            if (
                re.search(r"^URIs:", stanza, re.M)
                and "security" not in stanza.split("Suites:")[-1].split("\n")[0]
            ):
                match = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if match:
                    return match.group(1)
        for line in text.splitlines():
            match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match and "security" not in match.group(2):
                return match.group(1)
    return None


def base_content_hash(dockerfile: str, context: Mapping[str, bytes], source_id: str) -> str:
    """What names the base image: its Dockerfile, context files and the image it starts from."""
    names = sorted(context)
    return hash_parts(
        dockerfile.encode(),
        json.dumps(names).encode(),
        *(context[name] for name in names),
        source_id.encode(),
    )


def base_context(certs: dict[str, bytes]) -> tuple[str, dict[str, bytes]]:
    """The base image's Dockerfile and build context, read from ``images/base``."""
    folder = images_dir() / "base"
    dockerfile = (folder / "Dockerfile").read_text()
    context: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != "Dockerfile" and not rel.startswith("extra-ca/"):
            context[rel] = path.read_bytes()
    # The folder must exist in the context even with no certificate in it.
    context["extra-ca/.keep"] = b""
    for name, data in certs.items():
        context[f"extra-ca/{name}"] = data
    return dockerfile, context


def _rootfs_tag(suite: str, mirror: str) -> str:
    arch = os.uname().machine
    return f"{ROOTFS_REPOSITORY}:{suite}-{hash_parts(suite.encode(), mirror.encode(), arch.encode())[:12]}"


def _bootstrap_rootfs(
    engine: Engine, suite: str, mirror: str, rebuild: bool, log: Log
) -> ImageInfo:
    """debootstrap + docker import, cached by suite, mirror and architecture."""
    tag = _rootfs_tag(suite, mirror)
    existing = engine.image_sync(tag)
    if existing and not rebuild:
        log(f"Root filesystem {tag} is already there; not bootstrapping again.")
        return existing
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
    )
    if debootstrap is None:
        raise BaseImageError(
            "debootstrap is not installed. Install it (`sudo apt-get install debootstrap`) "
            "or build from an upstream image without --bootstrap."
        )
    if os.geteuid() != 0:
        raise BaseImageError(
            "Bootstrapping a root filesystem needs root (debootstrap creates device files). "
            "Run `sudo jupyter stardock base --bootstrap`."
        )
    with tempfile.TemporaryDirectory(prefix="stardock-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"Bootstrapping Debian {suite} from {mirror} (this takes a minute or two)...")
        cmd = [debootstrap, "--variant=minbase", suite, str(rootfs), mirror]
        _run_logged(cmd, log, what="debootstrap")
        log("Importing the root filesystem into the engine...")
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert tar.stdout is not None
        try:
            image_id = engine.import_sync(
                iter(lambda: tar.stdout.read(1 << 20), b""),  # type: ignore[union-attr]
                changes=['CMD ["/bin/bash"]'],
            )
        finally:
            tar.stdout.close()
            _, err = tar.communicate()
        if tar.returncode != 0:
            engine.remove_image_sync(image_id, force=True)
            raise BaseImageError(
                f"tar of the bootstrapped root filesystem failed: {err.decode(errors='replace').strip()[:300]}"
            )
    engine.tag_sync(image_id, tag)
    log(f"Imported the root filesystem as {tag}.")
    image = engine.image_sync(tag)
    assert image is not None
    return image


def _run_logged(cmd: list[str], log: Log, *, what: str) -> None:
    """Run a command, echoing its output as progress; raise with its tail on failure."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-19:], line]
        if (
            line.startswith(
                (
                    "I: Retrieving",
                    "I: Extracting",
                    "I: Installing",
                    "I: Configuring",
                    "I: Base system",
                )
            )
            or line.startswith("E:")
            or line.startswith("W:")
        ):
            log(f"  {line}")
    if proc.wait() != 0:
        last = next((ln for ln in reversed(tail) if ln.startswith("E:")), tail[-1] if tail else "")
        raise BaseImageError(
            f"{what} failed (exit {proc.returncode}): {last}. Check the Debian mirror "
            "(--mirror) and this machine's network; the full log is above."
        )


def _upstream(engine: Engine, ref: str, log: Log) -> ImageInfo:
    image = engine.image_sync(ref)
    if image is not None:
        return image
    log(f"Pulling {ref}...")
    try:
        return engine.pull_sync(ref, on_line=None)
    except (EngineError, StarDockError) as err:
        raise BaseImageError(
            f"Could not pull {ref} ({err}). On a site with no image registry, "
            "run `jupyter stardock base --bootstrap` to make the base from a Debian mirror."
        ) from err


def ensure_base_image(
    engine: Engine, request: BaseImageRequest, log: Log = print
) -> BaseImageResult:
    """Build the base image unless one built from the same inputs exists (blocking)."""
    certs = read_extra_certs(request.extra_ca)
    if request.bootstrap:
        mirror = request.mirror or host_debian_mirror() or "http://deb.debian.org/debian"
        source = _bootstrap_rootfs(engine, request.suite, mirror, request.rebuild, log)
        from_ref = source.tags[0] if source.tags else source.id
    else:
        source = _upstream(engine, request.upstream, log)
        from_ref = request.upstream

    dockerfile, context = base_context(certs)
    content_hash = base_content_hash(dockerfile, context, source.id)
    tag = f"{request.repository}:{content_hash[:16]}"
    existing = engine.image_sync(tag)
    if existing is not None and not request.rebuild:
        engine.tag_sync(existing.id, request.alias)
        log(
            f"Base image {tag} is up to date (built from {from_ref}); nothing to do. Use --rebuild to build it again."
        )
        return BaseImageResult(image=existing, tag=tag, built=False, from_ref=from_ref)

    log(f"Building base image {tag} from {from_ref}...")
    labels = BaseImageLabels(
        from_ref=from_ref,
        from_id=source.id,
        content_hash=content_hash,
        extra_ca=tuple(certs),
        version=__version__,
    ).to_labels()
    result = engine.build_sync(
        dockerfile,
        context,
        labels=labels,
        buildargs={"BASE_FROM": source.id},
        nocache=request.rebuild,
        on_line=lambda line: log(f"  {line}"),
    )
    # Tag only the finished image: a failed build leaves no half-made tag.
    engine.tag_sync(result.image_id, tag)
    engine.tag_sync(result.image_id, request.alias)
    image = engine.image_sync(tag)
    assert image is not None
    log(f"Built base image {tag} ({image.id[:19]}), also tagged {request.alias}.")
    return BaseImageResult(image=image, tag=tag, built=True, from_ref=from_ref)


# issue 16: the base pushed to the site's registry (its hash tag and the alias servers look for).
def push_base_image(registry: RegistryService, result: BaseImageResult, log: Log = print) -> None:
    """Push the base image so that every node builds on the same one (raises BaseImageError)."""
    alias = f"{result.tag.rsplit(':', 1)[0]}:latest"  # BaseImageRequest.alias
    for tag in (result.tag, alias):
        copy = registry.publish_sync(tag, log)
        if copy.error is not None:
            raise BaseImageError(copy.error)
