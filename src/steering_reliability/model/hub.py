"""Models from the Hugging Face hub: pinned, lean downloads whose checksums come from the hub.

The revision in the config (a 40-hex commit, or a branch/tag that is resolved once, here) is
looked up with the hub's API; the commit it resolves to is what ``model.json`` records and
what every later job loads, so a compute node can never load another ``main`` than the login
node prepared. Only what loading needs is downloaded: the config and generation config, the
tokenizer files, the chat template and the safetensors weights that transformers loads
(``model.safetensors``, or the shards its index names; no duplicate ``.bin`` shards, no
``consolidated.safetensors``, GGUF or ONNX exports). The sha256 of each weight file is the
one the hub records for it (its LFS object id), read from the API: recorded in model.json,
not re-computed (that would mean hashing tens of GB on the login node).

Where the weights go: ``compute.hub_cache`` (default ``resources/hub``: a folder every model job
reads, so the weights are downloaded once per study; the workflow passes it as ``cache_dir``), or
the hub cache of ``HF_HOME`` when none is given. Gated
models (Llama-2, Gemma) need an accepted licence and a token: ``hf auth login`` or
``HF_TOKEN`` in the environment. ``HF_ENDPOINT`` points at another hub (the tests use a
local one).
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

# What loading a tokenizer and a config reads (the weights are chosen by name); remote code only when asked for.
ALLOW_PATTERNS = ["*.json", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
INDEX = "model.safetensors.index.json"


class HubError(RuntimeError):
    pass


NETWORK_ERRORS = {"ConnectionError", "TransportError", "TimeoutException", "NetworkError", "ProxyError"}


def _is_network_error(error: BaseException) -> bool:
    """A failure to reach the hub (DNS, refused connection, timeout, proxy), whichever HTTP client raised it."""
    return isinstance(error, OSError) or any(kind.__name__ in NETWORK_ERRORS for kind in type(error).__mro__)


@dataclass(frozen=True)
class HubSnapshot:
    path: str  # the local snapshot directory
    commit: str  # the resolved commit
    weights_sha256: dict[str, str]  # weight file name -> sha256, from the hub's metadata


def repo_info(repo_id: str, revision: str | None, what: str, repo_type: str = "model", files_metadata: bool = False):
    """The hub's answer for a model or dataset repository at ``revision`` (None: its default branch), whose ``sha``
    is the commit the revision resolves to. A repository that does not exist, a revision it does not have, a gated
    repository and a hub that cannot be reached each get their own message, naming the config entry ``what``."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        return HfApi().repo_info(repo_id, revision=revision, repo_type=repo_type, files_metadata=files_metadata)
    except RevisionNotFoundError as error:
        raise HubError(
            f"{what}: {repo_id} exists but has no revision {revision!r} (a branch, tag or 40-hex commit)"
        ) from error
    except GatedRepoError as error:
        raise HubError(
            f"{what}: {repo_id} is gated: accept its licence on the hub, then `hf auth login` or set HF_TOKEN"
        ) from error
    except RepositoryNotFoundError as error:  # also what a private repository without a token gives
        raise HubError(
            f"{what}: no {repo_type} {repo_id} on the hub (check the id; a private or gated one needs `hf auth login` "
            "or HF_TOKEN)"
        ) from error
    except Exception as error:
        if not _is_network_error(error):
            raise
        raise HubError(
            f"{what}: the hub ({constants.ENDPOINT}) cannot be reached to look up {repo_id} ({type(error).__name__}: "
            f"{error}): check the network, a proxy or HF_ENDPOINT; compute nodes without internet need "
            "compute.prepare_models: host"
        ) from error


def download(
    repo_id: str, revision: str | None, trust_remote_code: bool = False, what: str = "model", cache_dir=None
) -> HubSnapshot:
    """Resolve ``revision`` (None: the repository's default branch) to a commit, then download what loading needs
    into ``cache_dir`` (None: the hub cache of HF_HOME)."""
    from huggingface_hub import hf_hub_download, snapshot_download

    info = repo_info(repo_id, revision, what, files_metadata=True)
    top = {sibling.rfilename: sibling for sibling in info.siblings or [] if "/" not in sibling.rfilename}
    if INDEX in top:
        index = hf_hub_download(repo_id, INDEX, revision=info.sha, cache_dir=cache_dir)
        names = set(json.loads(Path(index).read_text())["weight_map"].values())
    else:
        names = {"model.safetensors"} & set(top)
    weights = {name: top[name].lfs.sha256 for name in sorted(names) if name in top and top[name].lfs}
    if not weights or len(weights) != len(names):
        raise HubError(
            f"{what}: {repo_id} at {info.sha} has no complete safetensors weights (model.safetensors or the shards "
            f"of {INDEX}); this workflow loads safetensors only (no pickled .bin files): pick a revision that has them"
        )
    patterns = ALLOW_PATTERNS + (["*.py"] if trust_remote_code else [])
    wanted = [name for name in top if name in weights or any(fnmatch(name, pattern) for pattern in patterns)]
    path = snapshot_download(
        repo_id, revision=info.sha, allow_patterns=[glob.escape(name) for name in wanted], cache_dir=cache_dir
    )
    return HubSnapshot(path=path, commit=info.sha, weights_sha256=weights)
