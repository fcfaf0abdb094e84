"""Typed settings of the vision paradigm: image preprocessing and the image–text model.

:class:`ImagePreprocessConfig` is read from a checkpoint's ``preprocessor_config.json`` (the
exporter copies that file into the artifact and writes the typed block into the manifest).
Only processors whose semantics the runtime reproduces exactly are accepted; anything else is
refused with an error naming the processor type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config_base import _ConfigBase
from ..errors import ArtifactError

__all__ = [
    "ImagePreprocessConfig",
    "ImageTextConfig",
    "TEXT_SEMANTICS",
    "SUPPORTED_PROCESSORS",
    "REFUSED_PROCESSORS",
    "PIL_RESAMPLE",
    "DEFAULT_MAX_PIXELS",
]

# image_processor_type / feature_extractor_type -> family whose (slow, PIL) semantics we reproduce
SUPPORTED_PROCESSORS: dict[str, str] = {
    "SiglipImageProcessor": "siglip",
    "SiglipImageProcessorFast": "siglip",
    "CLIPImageProcessor": "clip",
    "CLIPImageProcessorFast": "clip",
    "CLIPFeatureExtractor": "clip",
}
REFUSED_PROCESSORS: dict[str, str] = {
    "Siglip2ImageProcessor": "SigLIP2 NaFlex (variable resolution, patch packing) is not supported yet; "
    "use a fixed-resolution SigLIP2 checkpoint such as google/siglip2-base-patch16-224",
    "Siglip2ImageProcessorFast": "SigLIP2 NaFlex (variable resolution, patch packing) is not supported yet; "
    "use a fixed-resolution SigLIP2 checkpoint such as google/siglip2-base-patch16-224",
}
# PIL resample ids (PIL.Image.Resampling): the ones the HF processors use
PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
# Decompression-bomb guard: images with more pixels are refused (PIL's own default is ~89.5 M)
DEFAULT_MAX_PIXELS = 89_478_485

_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ImagePreprocessConfig(_ConfigBase):
    """How an image becomes ``pixel_values`` (float32, CHW), in the slow HF processors' order.

    1. Convert to RGB with ``PIL.Image.convert("RGB")`` (``convert_rgb``; transformers'
       ``convert_to_rgb``): palette, alpha (dropped, not composited), grayscale, CMYK, 16-bit.
    2. Resize the uint8 PIL image with ``resample``: ``resize="fixed"`` straight to
       ``height``×``width`` (SigLIP), ``resize="shortest_edge"`` so the short side is
       ``shortest_edge`` and the long side ``int(shortest_edge * long / short)`` (CLIP).
    3. Optional center crop to ``crop_height``×``crop_width`` (zero padding when larger).
    4. ``x.astype(float64) * rescale_factor`` → float32, then ``(x - mean) / std`` in float32.
    """

    processor: str = "siglip"
    processor_type: str = "SiglipImageProcessor"
    convert_rgb: bool = True
    resize: str = "fixed"
    height: int = 224
    width: int = 224
    shortest_edge: int = 0
    resample: int = 3
    center_crop: bool = False
    crop_height: int = 0
    crop_width: int = 0
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    reference: str = "transformers SiglipImageProcessor (slow, PIL) with do_convert_rgb=True"

    def __post_init__(self) -> None:
        if self.resize not in ("fixed", "shortest_edge", "none"):
            raise ValueError(f"resize must be 'fixed', 'shortest_edge' or 'none', got {self.resize!r}")
        if self.resample not in PIL_RESAMPLE:
            raise ValueError(f"resample {self.resample!r} is not a PIL filter id {sorted(PIL_RESAMPLE)}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s == 0 for s in self.std):
            raise ValueError("mean and std need three values each, std non-zero")

    @property
    def output_size(self) -> tuple[int, int]:
        """``(height, width)`` of the ``pixel_values`` this config produces."""
        if self.center_crop:
            return self.crop_height, self.crop_width
        if self.resize == "fixed":
            return self.height, self.width
        raise ValueError("the output size of a shortest-edge resize without crop depends on the image")

    @classmethod
    def from_preprocessor_config(cls, data: Mapping[str, Any]) -> ImagePreprocessConfig:
        """Parse a ``preprocessor_config.json`` dict; refuse processor types we do not reproduce."""
        name = str(data.get("image_processor_type") or data.get("feature_extractor_type") or "")
        if name in REFUSED_PROCESSORS:
            raise ArtifactError(f"image processor {name!r} is not supported: {REFUSED_PROCESSORS[name]}")
        if name not in SUPPORTED_PROCESSORS:
            raise ArtifactError(
                f"image processor {name or '(none given)'!r} is not supported; tessera-onnx reproduces "
                f"{sorted(SUPPORTED_PROCESSORS)}"
            )
        family = SUPPORTED_PROCESSORS[name]
        clip = family == "clip"
        size = data.get("size", {"shortest_edge": 224} if clip else {"height": 224, "width": 224})
        kwargs: dict[str, Any] = {}
        if isinstance(size, int):  # legacy CLIP: an int means shortest edge (default_to_square=False)
            size = {"shortest_edge": size} if clip else {"height": size, "width": size}
        if "shortest_edge" in size:
            kwargs.update(resize="shortest_edge", shortest_edge=int(size["shortest_edge"]))
        elif "height" in size and "width" in size:
            kwargs.update(resize="fixed", height=int(size["height"]), width=int(size["width"]))
        else:
            raise ArtifactError(f"image processor size {size!r} is neither shortest_edge nor height/width")
        if not data.get("do_resize", True):
            kwargs["resize"] = "none"
        crop = data.get("crop_size", {"height": 224, "width": 224} if clip else None)
        do_crop = bool(data.get("do_center_crop", clip))
        if do_crop:
            if isinstance(crop, int):
                crop = {"height": crop, "width": crop}
            if not crop or "height" not in crop:
                raise ArtifactError(f"image processor crop_size {crop!r} has no height/width")
            kwargs.update(center_crop=True, crop_height=int(crop["height"]), crop_width=int(crop["width"]))
        default_mean, default_std = (_CLIP_MEAN, _CLIP_STD) if clip else ((0.5,) * 3, (0.5,) * 3)
        mean = data.get("image_mean", default_mean)
        std = data.get("image_std", default_std)
        mean = tuple(float(v) for v in (mean if isinstance(mean, (list, tuple)) else [mean] * 3))
        std = tuple(float(v) for v in (std if isinstance(std, (list, tuple)) else [std] * 3))
        slow = name.replace("Fast", "").replace("CLIPFeatureExtractor", "CLIPImageProcessor")
        return cls(
            processor=family,
            processor_type=name,
            resample=int(data.get("resample", 3)),
            do_rescale=bool(data.get("do_rescale", True)),
            rescale_factor=float(data.get("rescale_factor", 1 / 255)),
            do_normalize=bool(data.get("do_normalize", True)),
            mean=mean,  # type: ignore[arg-type]
            std=std,  # type: ignore[arg-type]
            reference=f"transformers {slow} (slow, PIL) with do_convert_rgb=True",
            **kwargs,
        )


# SigLIP text-tower padding semantics: the trained one (max_length, no mask) or transformers' masked form
TEXT_SEMANTICS = ("trained", "transformers")


@dataclass(frozen=True)
class ImageTextConfig(_ConfigBase):
    """The dual encoder: two graphs, the score function and how text is tokenized.

    ``score`` is ``"sigmoid"`` (SigLIP: ``sigmoid(exp(logit_scale)·cos + logit_bias)``, per
    image–label pair) or ``"softmax"`` (CLIP: softmax over labels of ``exp(logit_scale)·cos``).
    ``text_padding`` is ``"max_length"`` (SigLIP: every text padded to ``max_length`` with the pad
    id, pooled at the last position, so "longest" padding would change the vectors) or
    ``"longest"`` (CLIP: causal mask + EOS pooling make padding irrelevant). ``canonicalize``
    names the text canonicalisation the reference tokenizer applies before SentencePiece
    (``"siglip"``: lowercase, drop ASCII punctuation, collapse whitespace) or ``""``; it uses
    ``special_tokens`` (content → id, split out before canonicalising) and ``eos_token_id``.

    ``text_semantics`` (SigLIP / SigLIP2) says how the text tower sees padding, as baked into the
    exported graph: ``"trained"`` (default: ids padded to ``max_length`` with the pad id and no
    attention mask, so the pooled last position has attended to the padding — how SigLIP was
    trained and how big_vision and open_clip compute it) or ``"transformers"`` (the tokenizer's
    attention mask is fed, as transformers does when given one). ``""`` for CLIP (causal mask and
    EOS pooling: padding does not reach the pooled token).
    """

    family: str = "siglip"
    score: str = "sigmoid"
    logit_scale: float = 0.0
    logit_bias: float = 0.0
    image_model_file: str = "vision.onnx"
    text_model_file: str = "text.onnx"
    image_input: str = "pixel_values"
    image_output: str = "image_embeds"
    text_output: str = "text_embeds"
    text_inputs: tuple[str, ...] = ("input_ids",)
    text_padding: str = "max_length"
    text_semantics: str = ""
    canonicalize: str = ""
    eos_token_id: int = 1
    special_tokens: Mapping[str, int] = field(default_factory=dict)
    default_template: str = "This is a photo of {}."

    def __post_init__(self) -> None:
        if self.score not in ("sigmoid", "softmax"):
            raise ValueError(f"score must be 'sigmoid' or 'softmax', got {self.score!r}")
        if self.text_padding not in ("max_length", "longest"):
            raise ValueError(f"text_padding must be 'max_length' or 'longest', got {self.text_padding!r}")
        if self.text_semantics not in ("", *TEXT_SEMANTICS):
            raise ValueError(f"text_semantics must be one of {TEXT_SEMANTICS}, got {self.text_semantics!r}")
        if self.canonicalize not in ("", "siglip"):
            raise ValueError(f"unknown text canonicalisation {self.canonicalize!r}")
