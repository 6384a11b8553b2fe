"""Model-hub checks shared by every model loader: is the hub allowed, and is a file already cached.

Read at call time: huggingface_hub reads HF_HUB_OFFLINE only at import, and transformers honours its own
TRANSFORMERS_OFFLINE; a loader must obey either, so that offline means offline for every model.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "on", "yes", "true"}
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE forbids any hub access (as set now)."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in OFFLINE_VARIABLES)


def cached_file(repo: str, filename: str) -> Path | None:
    """`filename` of hub repo `repo` in the local Hugging Face cache, without any network access."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename)
    return Path(found) if isinstance(found, str) else None
