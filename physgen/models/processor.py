"""Loading a model directory's processor, with an image-only fallback when torchvision is missing.

Some processors (Qwen2-VL, Qwen2.5-VL, SmolVLM, ...) always load a video processor, and video
processors need torchvision. Image tasks do not need it, so when loading fails for that reason,
:func:`load_processor` builds the *same* processor class without its video processor: the
architecture's own code still expands the image placeholders, runs the image processor and
tokenizes, so ``input_ids``, ``pixel_values``, ``image_grid_thw`` (or the architecture's equivalent)
are exactly what the full processor gives for image inputs. It logs the fallback once per class.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

from physgen.models.hub import offline

log = logging.getLogger("physgen")
_LOGGED: set[str] = set()


def load_processor(path: str | Path, trust_remote_code: bool = False):
    """The processor saved in model directory ``path`` (local files only); see the module doc."""
    offline()
    from transformers import AutoProcessor

    path = Path(path)
    try:
        proc = AutoProcessor.from_pretrained(path, local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception as err:  # re-raised below unless the cause is the missing video backend
        cls = processor_class(path)
        if cls is None or not needs_video_backend(cls):
            raise
        proc = image_only(cls).from_pretrained(path, local_files_only=True)
        if cls.__name__ not in _LOGGED:
            _LOGGED.add(cls.__name__)
            log.warning("%s loads a video processor, which needs torchvision (not installed); using it without "
                        "video: image inputs are processed exactly as by the full processor", cls.__name__)
        log.debug("AutoProcessor failed for %s: %r", path, err)
    if not (hasattr(proc, "image_processor") and hasattr(proc, "tokenizer")):
        raise ValueError(f"{path} has no image processor and tokenizer ({type(proc).__name__}): not a "
                         "vision-language model directory")
    return proc


def is_image_only(proc) -> bool:
    """Whether ``proc`` is the image-only fallback of :func:`load_processor`."""
    return bool(getattr(type(proc), "_physgen_image_only", False))


def needs_video_backend(cls) -> bool:
    """``cls`` loads a video processor and torchvision, which video processors need, is missing."""
    from transformers.utils import is_torchvision_available

    return any("video" in a for a in cls.get_attributes()) and not is_torchvision_available()


@functools.cache
def image_only(cls):
    """Processor class ``cls`` without its video processor. Same name (it saves as ``cls``); every
    method, including placeholder expansion, is ``cls``'s own."""
    attributes = [a for a in cls.get_attributes() if "video" not in a]
    return type(cls.__name__, (cls,), {
        "__doc__": f"{cls.__name__} without its video processor (physgen's image-only fallback).",
        "__module__": cls.__module__,
        "_physgen_image_only": True,
        "get_attributes": classmethod(lambda _cls: list(attributes)),
    })


def processor_class(path: Path):
    """The processor class a model directory declares (its processor or preprocessor config, else its
    model type); None when none is known."""
    from transformers.models.auto.processing_auto import processor_class_from_name

    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        f = Path(path) / name
        if f.is_file():
            try:
                declared = json.loads(f.read_text()).get("processor_class")
            except (ValueError, AttributeError):
                declared = None
            if declared and (cls := processor_class_from_name(declared)) is not None:
                return cls
    try:
        from transformers import AutoConfig
        from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

        return PROCESSOR_MAPPING[type(AutoConfig.from_pretrained(path, local_files_only=True))]
    except (ValueError, OSError, KeyError):
        return None
