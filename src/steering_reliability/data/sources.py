"""Where the raw dataset files come from, and how they are fetched and verified.

Every raw file lives in a public GitHub repository at a pinned commit. A run either
downloads it from there or copies it from a local mirror directory (same relative
paths, e.g. ``../shared/datasets``); either way its sha256 must match the pinned one
(``raw_files.sha256``, shipped with the package).
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from steering_reliability.run.artifacts import atomic_path


@dataclass(frozen=True)
class Upstream:
    """A public repository at a pinned commit, and the mirror folder its files map to."""

    repository: str
    commit: str
    mirror_folder: str
    upstream_folder: str


ANTHROPIC_EVALS = Upstream("anthropics/evals", "84fcc677e52e1902d696c32cd1a6b663e70d3993", "anthropic-evals", "")
CAA = Upstream("nrimsky/CAA", "bf7b5f4f11f6e80bf731b011c6c79592a3c7a414", "caa/sycophancy", "preprocessed_data")
TRUTHFULQA = Upstream("sylinrl/TruthfulQA", "013686a06be7a7bde5bf8223943e106c7250123c", "truthfulqa", "")
REPEPO = Upstream("dtch1997/repepo", "68f650aa76275039903fde10c299f0b01fa5045f", "repepo", "")
UPSTREAMS = (ANTHROPIC_EVALS, CAA, TRUTHFULQA, REPEPO)

# The persona sentences of the OOD study. Upstream they are Python source in the paper's
# code (parsed, never run: steering_reliability.data.personas); a mirror may hold them as the
# JSON extracted from that source (../shared/datasets/repepo/persona_prompts.json).
PERSONA_PROMPTS_SOURCE = "repepo/repepo/experiments/persona_prompts.py"
PERSONA_PROMPTS_JSON = "repepo/persona_prompts.json"
DEFAULT_DOWNLOAD_URL = "https://raw.githubusercontent.com"


class ChecksumError(RuntimeError):
    pass


class DownloadError(RuntimeError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upstream_for(mirror_path: str) -> tuple[Upstream, str]:
    """The repository and the path inside it for a file in the mirror layout."""
    for upstream in UPSTREAMS:
        prefix = upstream.mirror_folder + "/"
        if mirror_path.startswith(prefix):
            inner = mirror_path[len(prefix) :]
            path = f"{upstream.upstream_folder}/{inner}" if upstream.upstream_folder else inner
            return upstream, path
    raise KeyError(
        f"{mirror_path!r} has no upstream repository: it must be read from a local mirror (config key data.mirror)"
    )


def persona_prompts_file(mirror: str | Path | None) -> str:
    """The raw file of the persona sentences: the mirror's JSON if it has one, else repepo's source."""
    if mirror and (Path(mirror) / PERSONA_PROMPTS_JSON).is_file():
        return PERSONA_PROMPTS_JSON
    return PERSONA_PROMPTS_SOURCE


def raw_url(mirror_path: str, download_url: str = DEFAULT_DOWNLOAD_URL) -> str:
    upstream, path = upstream_for(mirror_path)
    return f"{download_url.rstrip('/')}/{upstream.repository}/{upstream.commit}/{path}"


def fetch_raw_file(
    mirror_path: str,
    destination: Path,
    expected_sha256: str,
    mirror: Path | None,
    download_url: str = DEFAULT_DOWNLOAD_URL,
) -> None:
    """Copy ``mirror_path`` from the mirror (or download it) to ``destination``, verified.

    The file appears at ``destination`` only once its checksum has matched.
    """
    with atomic_path(destination) as partial:
        if mirror is not None:
            source = Path(mirror) / mirror_path
            if not source.is_file():
                raise FileNotFoundError(f"{source}: missing from the local mirror (config key data.mirror = {mirror})")
            shutil.copyfile(source, partial)
            origin = str(source)
        else:
            origin = raw_url(mirror_path, download_url)
            try:
                with urllib.request.urlopen(origin, timeout=120) as response, open(partial, "wb") as out:
                    shutil.copyfileobj(response, out)
            except OSError as error:  # URLError, HTTPError and timeouts are all OSErrors
                raise DownloadError(
                    f"{origin}: download failed ({error}); without internet access, set data.mirror "
                    "to a local copy of the raw files"
                ) from None
        actual = sha256_of(partial)
        if actual != expected_sha256:
            raise ChecksumError(
                f"{origin}: sha256 {actual} does not match the pinned {expected_sha256} for {mirror_path}"
            )


def pinned_checksums(manifest: str | Path | None = None) -> dict[str, str]:
    """sha256 of every raw file the study may read, keyed by its mirror-layout path.

    ``manifest`` (config key data.checksums) replaces the pinned list, e.g. for a trimmed mirror.
    """
    if manifest is not None:
        return read_manifest(Path(manifest))
    with resources.as_file(resources.files("steering_reliability.data") / "raw_files.sha256") as path:
        return read_manifest(path)


def read_manifest(path: Path) -> dict[str, str]:
    """Parse a ``sha256sum``-format manifest into {relative path: sha256}."""
    checksums: dict[str, str] = {}
    for line_number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise ValueError(f"{path}:{line_number}: not a 'sha256  path' line: {line!r}")
        checksums[name] = digest
    return checksums
