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
import inspect
from importlib.util import find_spec
from typing import Any

VIDEO = "video_processor"


def has_torchvision() -> bool:
    return find_spec("torchvision") is not None


@functools.cache
def image_only(cls: type) -> type:
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


def needs_video(cls: type) -> bool:
    return VIDEO in inspect.signature(cls.__init__).parameters


def processor_class(name: str) -> type:
    """The transformers processor class `name`, image-only when torchvision is absent."""
    import transformers

    cls = getattr(transformers, name)
    if needs_video(cls) and not has_torchvision():
        return image_only(cls)
    return cls


def load_processor(base: str, revision: str | None = None, **kwargs: Any) -> Any:
    """`AutoProcessor.from_pretrained`, or its image-only form where it would need torchvision."""
    from transformers import AutoProcessor

    if has_torchvision():
        return AutoProcessor.from_pretrained(base, revision=revision, **kwargs)
    name = _processor_class_name(base, revision)
    if name is None:
        return AutoProcessor.from_pretrained(base, revision=revision, **kwargs)
    cls = processor_class(name)
    if not needs_video(getattr(__import__("transformers"), name)):
        return AutoProcessor.from_pretrained(base, revision=revision, **kwargs)
    return cls.from_pretrained(base, revision=revision, **kwargs)


def _processor_class_name(base: str, revision: str | None) -> str | None:
    """The processor class transformers would pick: `processor_config.json`, else the model
    type's entry in the AutoProcessor mapping."""
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES
    from transformers.processing_utils import ProcessorMixin

    try:
        saved = ProcessorMixin.get_processor_dict(base, revision=revision)[0]
    except Exception:
        saved = {}
    name = saved.get("processor_class") if isinstance(saved, dict) else None
    if not name:
        model_type = AutoConfig.from_pretrained(base, revision=revision).model_type
        name = PROCESSOR_MAPPING_NAMES.get(model_type)
    return name if isinstance(name, str) and hasattr(transformers, name) else None
