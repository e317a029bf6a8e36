"""Processors for image-only use, loadable where torchvision is missing.

transformers builds video processors on torchvision only. Qwen2.5-VL, Qwen3-VL, InternVL and
LLaVA-OneVision processors declare a video processor, so without torchvision they can be
neither built nor loaded, even with `video_processor=None`. dsconv never feeds video: where
torchvision is absent those processors are loaded as a subclass that declares only the image
processor and the tokenizer. The subclass keeps the original class name, so the saved
`processor_config.json` still names the real class. With torchvision installed the normal
`AutoProcessor` path is used.
"""

from __future__ import annotations

import functools
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers.processing_utils import ProcessorMixin

VIDEO = "video_processor"


def has_torchvision() -> bool:
    return find_spec("torchvision") is not None


@functools.cache
def image_only(cls: type[ProcessorMixin]) -> type[ProcessorMixin]:
    """`cls` without its video processor: same name, same behaviour for text and images.

    Only `get_attributes` changes (the parts ProcessorMixin builds, checks, loads and saves);
    `__init__` stays the original, so every saved setting (`image_seq_length`…) still loads.
    """

    def get_attributes(klass: type) -> list[str]:
        return [name for name in cls.get_attributes() if name != VIDEO]

    # Same __name__ (saved as `processor_class`); a qualname of this module's, so it pickles.
    qualname = f"ImageOnly{cls.__name__}"
    sub = type(cls.__name__, (cls,), {"get_attributes": classmethod(get_attributes),
                                      "__module__": __name__, "__qualname__": qualname})
    globals()[qualname] = sub
    return sub


def needs_video(cls: type[ProcessorMixin]) -> bool:
    return VIDEO in cls.get_attributes()


def processor_class(name: str) -> type[ProcessorMixin]:
    """The transformers processor class `name`, image-only when torchvision is absent."""
    import transformers

    cls = getattr(transformers, name)
    if needs_video(cls) and not has_torchvision():
        return image_only(cls)
    return cls


def load_processor(base: str, revision: str | None = None, **kwargs: Any) -> Any:
    """`AutoProcessor.from_pretrained`, or its image-only form where it would need torchvision."""
    from transformers import AutoProcessor

    if not has_torchvision():
        cls = _processor_class(base, revision)
        if cls is not None and needs_video(cls):
            # A class hashes fine; mypy checks `type[ProcessorMixin]` against Hashable wrongly.
            image_cls = image_only(cls)  # type: ignore[arg-type]
            return image_cls.from_pretrained(base, revision=revision or "main", **kwargs)
    return AutoProcessor.from_pretrained(base, revision=revision, **kwargs)


def _processor_class(base: str, revision: str | None) -> type[ProcessorMixin] | None:
    """The processor class AutoProcessor would pick: the saved `processor_class`, else the
    model type's entry in its mapping."""
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES
    from transformers.processing_utils import ProcessorMixin

    try:
        saved = ProcessorMixin.get_processor_dict(base, revision=revision)[0]
    except (OSError, ValueError):
        saved = {}
    name = saved.get("processor_class") if isinstance(saved, dict) else None
    if not name:
        model_type = AutoConfig.from_pretrained(base, revision=revision).model_type
        name = PROCESSOR_MAPPING_NAMES.get(model_type)
    cls = getattr(transformers, name, None) if isinstance(name, str) else None
    return cls if isinstance(cls, type) and issubclass(cls, ProcessorMixin) else None
