"""Moondream2's Hub remote code, written for transformers 4.4x, made to load and run under 5.x.

Under transformers 5 the remote code breaks in these places, each patched here with the
smallest change that restores the 4.x behaviour (and touching only what the remote code
defines, never transformers' own classes):

- its `PhiConfig` has no `pad_token_id` (5.x stopped defaulting it) and sees an auto-filled
  `rope_scaling` dict where it expects `None`, so building the text model raises;
- its `Moondream.__init__` never calls `post_init()`, so loading dies on
  `all_tied_weights_keys`;
- 5.x builds models on the meta device and refills non-persistent buffers with uninitialised
  memory; the remote rotary embeddings keep their `inv_freq`/`cos_cached`/`sin_cached` there,
  so the text model silently computes garbage (NaN in our transcription) until they are rebuilt;
- its attention calls `Cache.get_usable_length`, which 5.x removed (the adapter's greedy loop
  passes a cache that has it), and it names `logits_to_keep` `num_logits_to_keep`.

The version and import checks run before any download, so a mismatch is one line.
"""

from __future__ import annotations

import functools
import inspect
import sys
from importlib.util import find_spec
from typing import Any

import torch
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from torch import nn

from dsconv.errors import DsconvError

MOONDREAM2_REPO = "vikhyatk/moondream2"
MOONDREAM2_REVISION = "2024-08-26"
SUPPORTED_TRANSFORMERS = ">=5.0,<6"
TESTED_TRANSFORMERS = "5.23.0"
# What the remote code of every tested revision imports beyond torch and transformers.
REMOTE_CODE_PACKAGES = ("torchvision", "einops")
# `pip install 'dsconv[moondream2]'` brings einops; torchvision must be the build made for the
# installed torch (a mismatched one fails to import), so it is the user's to install.
INSTALL_HINT = (
    "pip install 'dsconv[moondream2]' and the torchvision built for your torch "
    "(torch {torch} here; torchvision 0.28 pairs with torch 2.13, from the index torch came from)"
)


class Moondream2CompatError(DsconvError):
    """The installed packages cannot run the Moondream2 remote code; raised before any work."""


def check_versions(transformers_version: str | None = None) -> None:
    """Fail early when transformers is outside the range the loading shims were written for."""
    if transformers_version is None:
        import transformers

        transformers_version = transformers.__version__
    if Version(transformers_version) not in SpecifierSet(SUPPORTED_TRANSFORMERS):
        raise Moondream2CompatError(
            f"Moondream2 ({MOONDREAM2_REPO}@{MOONDREAM2_REVISION}) needs transformers "
            f"{SUPPORTED_TRANSFORMERS} with dsconv (tested with {TESTED_TRANSFORMERS}); found "
            f"transformers {transformers_version}. The remote code alone targets transformers "
            "4.44 (its own generate() stops working at 4.50)."
        )


def check_environment(base: str = MOONDREAM2_REPO) -> None:
    """Everything checkable without the network: transformers range, remote-code imports."""
    check_versions()
    if base != MOONDREAM2_REPO:
        return  # a local or forked checkpoint: its own imports are checked when it loads
    missing = [name for name in REMOTE_CODE_PACKAGES if find_spec(name) is None]
    if missing:
        raise Moondream2CompatError(
            f"{MOONDREAM2_REPO} remote code imports {', '.join(missing)}, missing here: "
            + INSTALL_HINT.format(torch=torch.__version__)
        )


def restore_v4_config_defaults(text_config: Any) -> None:
    """Give the remote `PhiConfig` the values it had under transformers 4.x.

    Only configs written against 4.x (the remote one keeps `_rope_scaling_validation`) are
    touched; transformers' own PhiConfig already speaks the 5.x rope format.
    """
    if not hasattr(text_config, "pad_token_id"):
        text_config.pad_token_id = None
    if not hasattr(type(text_config), "_rope_scaling_validation"):
        return
    rope = getattr(text_config, "rope_parameters", None)
    if isinstance(rope, dict) and rope.get("rope_type", "default") == "default":
        text_config.rope_parameters = None
    elif rope is not None:
        raise Moondream2CompatError(
            f"Moondream2 text config carries rope scaling {rope!r}, which the remote code cannot "
            "read under transformers 5; only unscaled rope is supported."
        )


def text_config_of(config: Any) -> tuple[str, Any] | None:
    """The Phi settings and their attribute: `text_config` (2024-08-26) or `phi_config`
    (2024-04-02, which builds it from the top-level keys); None for any other layout.

    A 2024-04-02 config saved once comes back with `phi_config` as a plain dict, which the
    remote `Moondream.__init__` would turn into its `PhiConfig` too late for the 5.x defaults;
    it is rebuilt here with the class from the same remote module.
    """
    for name in ("text_config", "phi_config"):
        value = getattr(config, name, None)
        if isinstance(value, dict):
            remote = sys.modules.get(type(config).__module__)
            phi_class = getattr(remote, "PhiConfig", None)
            if phi_class is None:
                return None
            value = phi_class(**value)
            setattr(config, name, value)
        if value is not None:
            return name, value
    return None


def ensure_post_init(model_class: Any) -> None:
    """Make the remote wrapper call `post_init()`, which transformers 5 requires of every model.

    `model_class` is the remote code's class, of a type only the checkpoint knows.
    """
    if getattr(model_class, "_dsconv_post_init", False):
        return
    original = model_class.__init__

    @functools.wraps(original)
    def __init__(self: Any, config: Any, *args: Any, **kwargs: Any) -> None:
        original(self, config, *args, **kwargs)
        if not hasattr(self, "all_tied_weights_keys"):
            self.post_init()

    model_class.__init__ = __init__
    model_class._dsconv_post_init = True


def rebuild_rotary_caches(text_model: nn.Module) -> int:
    """Recompute the remote rotary buffers the way their `__init__` did; returns how many.

    transformers 5 refills non-persistent buffers with `torch.empty_like` after loading and
    only knows how to re-initialise its own rotary classes.
    """
    rebuilt = 0
    module: Any  # a remote rotary embedding: its attributes are the remote code's
    for module in text_model.modules():
        if not all(
            hasattr(module, name)
            for name in ("_set_cos_sin_cache", "inv_freq", "base", "dim", "max_position_embeddings")
        ):
            continue
        device = module.inv_freq.device
        steps = torch.arange(0, module.dim, 2, dtype=torch.int64, device=device).float()
        module.register_buffer(
            "inv_freq", 1.0 / (module.base ** (steps / module.dim)), persistent=False
        )
        module._set_cos_sin_cache(
            seq_len=module.max_position_embeddings, device=device, dtype=torch.get_default_dtype()
        )
        rebuilt += 1
    return rebuilt


@functools.cache
def legacy_cache_class() -> type:
    """DynamicCache plus `get_usable_length`, which the remote attention calls and 5.x removed."""
    from transformers.cache_utils import DynamicCache

    class LegacyDynamicCache(DynamicCache):
        def get_usable_length(self, new_seq_length: int, layer_idx: int = 0) -> int:
            return self.get_seq_length(layer_idx)

    return LegacyDynamicCache


def last_logits_kwargs(text_model: nn.Module) -> dict[str, int]:
    """Ask for last-position logits only (`logits_to_keep` in 5.x, `num_logits_to_keep` remote)."""
    params = inspect.signature(text_model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return {name: 1}
    return {}


