"""Export IBM TinyTimeMixer (granite-tsfm) checkpoints to tessera time-series artifacts.

``tessera-export build ttm-r2-512-96 --out DIR`` (or ``--from-dir`` a granite-tsfm checkpoint)
dispatches here for paradigm ``"timeseries"``. The graph (legacy ``torch.onnx`` exporter, with
``TinyTimeMixerPatchify`` replaced by an exactly equivalent reshape, since ``Tensor.unfold``
does not export and ``patch_length == patch_stride`` in every TTM) is::

    inputs : past_values [B, L, C] float32, past_observed_mask [B, L, C] float32 (1 = observed),
             freq_token [B] int64                     (only when resolution_prefix_tuning)
    outputs: prediction_outputs [B, H, C]               forecast, de-scaled (H = filter length)
             backbone_hidden_state [B, C, P(+1), d_model]  encoder output, scaled space
             loc, scale [B, 1, C]                        the window's scaler statistics

B is dynamic; C is dynamic in ``common_channel`` mode and fixed when the model mixes channels.
L is fixed at ``context_length``: the runtime crops/pads (``tessera_onnx.timeseries.ops``).
Parity against the torch model on full, masked, short (left-padded) and multi-channel inputs is
measured before anything is written; a max abs diff above 1e-4 raises ``ParityError``.

granite-tsfm 0.3.x imports the ``datasets`` package from its top-level ``__init__`` although the
model code does not need it; :func:`load_tsfm` imports the TinyTimeMixer modules without that
``__init__`` when ``datasets`` is missing.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import json
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tessera_onnx.artifact import Manifest
from tessera_onnx.errors import ExportError, MissingDependencyError, ParityError
from tessera_onnx.registry import ModelSpec
from tessera_onnx.timeseries.config import TimeSeriesConfig
from tessera_onnx.timeseries.frequency import DEFAULT_FREQUENCY_MAPPING
from tessera_onnx.timeseries.ops import fit_window, patch_observed, pool_patches

from .artifact_writer import ArtifactStage, parity_record
from .onnx_export import square_as_mul
from .versions import collect_versions

__all__ = [
    "build_timeseries_artifact",
    "load_tsfm",
    "load_ttm",
    "timeseries_config_from_model",
    "export_ttm_graph",
    "PARITY_TOLERANCE",
]

PARITY_TOLERANCE = 1e-4
INPUTS = ("past_values", "past_observed_mask")
OUTPUTS = ("prediction_outputs", "backbone_hidden_state", "loc", "scale")
MODEL_FILE = "model.onnx"

# Config features the exporter does not handle (r3 models, categorical/exogenous heads).
_UNSUPPORTED = {
    "multi_scale": "multi-scale patching (TTM r3)",
    "register_tokens": "register tokens (TTM r3)",
    "fft_length": "FFT patches (TTM r3)",
    "multi_quantile_head": "the multi-quantile head (TTM r3)",
    "decompose": "trend/residual decomposition (TTM r3)",
    "categorical_vocab_size_list": "static categorical inputs",
    "prediction_channel_indices": "prediction_channel_indices (target/exogenous channel split)",
    "exogenous_channel_indices": "exogenous channels (need future values at inference)",
    "enable_forecast_channel_mixing": "forecast channel mixing with exogenous infusion",
}


# --------------------------------------------------------------------------- granite-tsfm import
def load_tsfm() -> types.ModuleType:
    """Import and return ``tsfm_public.models.tinytimemixer.modeling_tinytimemixer``.

    Raises :class:`MissingDependencyError` when granite-tsfm is not installed.
    """
    try:
        return importlib.import_module("tsfm_public.models.tinytimemixer.modeling_tinytimemixer")
    except ModuleNotFoundError as exc:
        if exc.name in ("tsfm_public", "torch", "transformers"):
            raise MissingDependencyError(
                "exporting TinyTimeMixer needs torch, transformers and granite-tsfm: "
                "pip install 'tessera-onnx[export,timeseries]' && pip install --no-deps granite-tsfm==0.3.11"
            ) from exc
        missing = exc.name
    # An optional dependency of granite-tsfm's package __init__ (e.g. `datasets`) is missing:
    # register bare package objects so only the model modules are executed.
    for key in [k for k in sys.modules if k == "tsfm_public" or k.startswith("tsfm_public.")]:
        del sys.modules[key]
    spec = importlib.util.find_spec("tsfm_public")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "granite-tsfm is not installed: pip install --no-deps granite-tsfm==0.3.11"
        )
    root = Path(list(spec.submodule_search_locations)[0])
    for name, path in (("tsfm_public", root), ("tsfm_public.models", root / "models")):
        module = types.ModuleType(name)
        module.__path__ = [str(path)]  # type: ignore[attr-defined]
        module.__package__ = name
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        module.__spec__.submodule_search_locations = [str(path)]
        sys.modules[name] = module
    try:
        return importlib.import_module("tsfm_public.models.tinytimemixer.modeling_tinytimemixer")
    except ModuleNotFoundError as exc:  # pragma: no cover - broken install
        raise MissingDependencyError(
            f"granite-tsfm's TinyTimeMixer needs {exc.name!r} (first missing: {missing!r}); install it"
        ) from exc


def load_ttm(source_dir: Path, *, prediction_filter_length: int | None = None) -> Any:
    """Load ``TinyTimeMixerForPrediction`` from a checkpoint directory, in eval mode."""
    modeling = load_tsfm()
    source_dir = Path(source_dir)
    if not (source_dir / "config.json").is_file():
        raise ExportError(
            f"{source_dir} has no config.json; pass a granite-tsfm TinyTimeMixer checkpoint directory"
        )
    config = json.loads((source_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "tinytimemixer":
        raise ExportError(
            f"{source_dir} holds a {config.get('model_type')!r} model, not a TinyTimeMixer (model_type 'tinytimemixer')"
        )
    kwargs = {}
    if prediction_filter_length is not None:
        kwargs["prediction_filter_length"] = prediction_filter_length
    try:
        model = modeling.TinyTimeMixerForPrediction.from_pretrained(str(source_dir), **kwargs)
    except Exception as exc:
        raise ExportError(f"cannot load TinyTimeMixerForPrediction from {source_dir}: {exc}") from exc
    return model.eval()


# --------------------------------------------------------------------------- config
def _check_supported(cfg: Any) -> None:
    for attr, what in _UNSUPPORTED.items():
        value = getattr(cfg, attr, None)
        if value:
            raise ExportError(
                f"this TinyTimeMixer uses {what} ({attr}={value!r}), which tessera-onnx does not export yet"
            )
    if getattr(cfg, "patch_length", None) != getattr(cfg, "patch_stride", None):
        raise ExportError("TinyTimeMixer requires patch_length == patch_stride")
    if getattr(cfg, "masked_context_length", None):
        raise ExportError("masked_context_length checkpoints (masked pre-training) are not supported")


def _channel_mode(cfg: Any) -> str:
    if cfg.mode == "mix_channel" or getattr(cfg, "decoder_mode", "common_channel") == "mix_channel":
        return "mix_channel"
    return "common_channel"


def timeseries_config_from_model(
    model: Any, *, frequency_mapping: dict[str, int] | None = None
) -> TimeSeriesConfig:
    """The manifest's :class:`TimeSeriesConfig` for a loaded ``TinyTimeMixerForPrediction``."""
    cfg = model.config
    _check_supported(cfg)
    mode = _channel_mode(cfg)
    freq = bool(cfg.resolution_prefix_tuning)
    vocab = int(cfg.frequency_token_vocab_size) if freq else 0
    mapping = {}
    if freq:
        base = dict(frequency_mapping or DEFAULT_FREQUENCY_MAPPING)
        mapping = {k: int(v) for k, v in base.items() if 0 <= int(v) < vocab}
        if "oov" not in mapping:
            mapping["oov"] = 0
    data_patches = (max(cfg.context_length, cfg.patch_length) - cfg.patch_length) // cfg.patch_stride + 1
    filt = cfg.prediction_filter_length
    scaling = cfg.scaling
    if scaling is True:
        scaling = "mean"
    if scaling not in ("std", "mean"):
        scaling = None
    return TimeSeriesConfig(
        context_length=int(cfg.context_length),
        prediction_length=int(filt or cfg.prediction_length),
        num_input_channels=int(cfg.num_input_channels) if mode == "mix_channel" else None,
        patch_length=int(cfg.patch_length),
        patch_stride=int(cfg.patch_stride),
        num_patches=int(data_patches),
        d_model=int(cfg.d_model),
        scaling=scaling,
        minimum_scale=float(getattr(cfg, "minimum_scale", 1e-5)) if scaling == "std" else 1e-10,
        freq_token_required=freq,
        frequency_mapping=mapping,
        frequency_vocab_size=vocab,
        channel_mode=mode,
        prediction_filter_length=int(filt) if filt else None,
        native_prediction_length=int(cfg.prediction_length),
        input_names=INPUTS + (("freq_token",) if freq else ()),
        output_names=OUTPUTS,
    )


# --------------------------------------------------------------------------- graph
def _wrapper(model: Any, with_freq: bool) -> Any:
    import torch

    class TTMGraph(torch.nn.Module):
        """Positional inputs -> the four named outputs of the artifact graph."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, past_values, past_observed_mask, freq_token=None):  # noqa: ANN001
            out = self.inner(
                past_values=past_values,
                past_observed_mask=past_observed_mask,
                freq_token=freq_token,
                return_loss=False,
                return_dict=True,
            )
            return out.prediction_outputs, out.backbone_hidden_state, out.loc, out.scale

    return TTMGraph(model).eval()


def _patchify_forward(self: Any, past_values: Any) -> Any:
    """``TinyTimeMixerPatchify.forward`` as a reshape (patch_length == patch_stride).

    ``x[:, start:, :].unfold(-2, pl, pl).transpose(-2, -3)`` equals
    ``x[:, start:, :].reshape(B, P, pl, C).permute(0, 3, 1, 2)``; unlike ``unfold`` it exports,
    and it is one Reshape + Transpose instead of P slices (what optimum's unfold patch does).
    """
    x = past_values[:, self.sequence_start :, :]
    x = x.reshape(x.shape[0], self.num_patches, self.patch_length, x.shape[-1])
    return x.permute(0, 3, 1, 2)


def _patch_mixer_forward(original: Callable[..., Any]) -> Callable[..., Any]:
    """``PatchMixerBlock.forward`` without the two transposes around the patch MLP.

    granite-tsfm mixes patches by moving them to the last axis (``[B, C, D, P]``), applying
    ``fc1 -> GELU -> fc2`` and the softmax gate over that axis of 8-64 values, and moving them
    back. Left-multiplying by the weights instead, ``W @ x + b[:, None]`` on ``[B, C, P, D]``, is
    the same function, but every element-wise kernel of the block (bias, GELU, gate) then runs
    over rows of ``d_model`` values: onnxruntime's bias/GELU kernels take about 3x longer on rows
    of 16 than of 192. Blocks with self-attention or a non-softmax gate keep the original.
    """
    import torch

    def forward(self: Any, hidden_state: Any) -> Any:
        gate = getattr(self, "gating_block", None) if self.gated_attn else None
        if self.self_attn or (
            gate is not None
            and (getattr(gate, "mode", "softmax") != "softmax" or getattr(gate, "use_reg_context", False))
        ):
            return original(self, hidden_state)
        residual = hidden_state
        x = self.norm(hidden_state)
        mlp = self.mlp
        x = torch.matmul(mlp.fc1.weight, x) + mlp.fc1.bias[:, None]
        x = torch.matmul(mlp.fc2.weight, torch.nn.functional.gelu(x)) + mlp.fc2.bias[:, None]
        if gate is not None:
            logits = torch.matmul(gate.attn_layer.weight, x) + gate.attn_layer.bias[:, None]
            # softmax over the patch axis, written out: onnxruntime's Softmax on a non-last axis
            # transposes internally; Exp/ReduceMax/ReduceSum run along the rows
            weights = torch.exp(logits - logits.amax(dim=-2, keepdim=True))
            x = x * (weights / weights.sum(dim=-2, keepdim=True))
        return x + residual

    return forward


@contextlib.contextmanager
def _export_patches(modeling: types.ModuleType) -> Iterator[None]:
    """Exactly equivalent, faster-to-run forms of two granite-tsfm modules, during export only.

    ``TinyTimeMixerPatchify`` becomes a reshape (:func:`_patchify_forward`: ``Tensor.unfold``
    does not export) and ``PatchMixerBlock`` drops its transposes (:func:`_patch_mixer_forward`).
    The parity check compares the exported graph with the unpatched torch model.
    """
    patches = {
        modeling.TinyTimeMixerPatchify: _patchify_forward,
        modeling.PatchMixerBlock: _patch_mixer_forward(modeling.PatchMixerBlock.forward),
    }
    originals = {cls: cls.forward for cls in patches}
    for cls, forward in patches.items():
        cls.forward = forward
    try:
        yield
    finally:
        for cls, forward in originals.items():
            cls.forward = forward


def export_ttm_graph(model: Any, path: Path, ts: TimeSeriesConfig, *, opset: int = 17) -> None:
    """Write the ONNX graph of ``model`` to ``path`` (single file, no external data)."""
    import torch

    modeling = load_tsfm()
    with_freq = ts.freq_token_required
    wrapper = _wrapper(model, with_freq)
    channels = ts.num_input_channels or 2
    example = [torch.randn(2, ts.context_length, channels), torch.ones(2, ts.context_length, channels)]
    names = list(INPUTS)
    if with_freq:
        example.append(torch.zeros(2, dtype=torch.long))
        names.append("freq_token")
    dynamic: dict[str, dict[int, str]] = {}
    chan = {} if ts.num_input_channels else {2: "channels"}
    for name in INPUTS:
        dynamic[name] = {0: "batch", **chan}
    if with_freq:
        dynamic["freq_token"] = {0: "batch"}
    dynamic["prediction_outputs"] = {0: "batch", **chan}
    dynamic["backbone_hidden_state"] = {0: "batch", **({} if ts.num_input_channels else {1: "channels"})}
    dynamic["loc"] = {0: "batch", **chan}
    dynamic["scale"] = {0: "batch", **chan}
    import warnings

    with _export_patches(modeling), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper.eval()
        try:
            torch.onnx.export(
                wrapper,
                tuple(example),
                str(path),
                input_names=names,
                output_names=list(OUTPUTS),
                dynamic_axes=dynamic,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        except Exception as exc:
            raise ExportError(
                f"torch.onnx.export failed for TinyTimeMixer: {type(exc).__name__}: {exc}"
            ) from exc
    import onnx

    graph = onnx.load(str(path))
    if square_as_mul(graph):
        onnx.save(graph, str(path))
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:
        raise ExportError(f"the exported graph fails onnx.checker: {exc}") from exc


# --------------------------------------------------------------------------- parity
def _parity_cases(ts: TimeSeriesConfig, seed: int = 0) -> list[dict[str, Any]]:
    """Fixed inputs: full windows, masked (NaN) windows, short (padded) series, several C/B."""
    rng = np.random.default_rng(seed)
    L = ts.context_length
    chans = [ts.num_input_channels] if ts.num_input_channels else [1, 3]
    t = np.arange(L + 64, dtype=np.float64)

    def series(b: int, c: int, n: int) -> np.ndarray:
        base = np.sin(2 * np.pi * t[:n, None] / rng.uniform(8, 40, size=(1, c))) * rng.uniform(
            0.5, 3, size=(1, c)
        )
        out = np.stack(
            [base + rng.normal(0, 0.3, size=(n, c)) + rng.uniform(-5, 5, size=(1, c)) for _ in range(b)]
        )
        return out

    cases = []
    for c in chans:
        full = series(3, c, L)
        cases.append({"name": f"full_b3_c{c}", "raw": full, "short": False})
        masked = series(2, c, L)
        holes = rng.random(masked.shape) < 0.2
        masked[holes] = np.nan
        cases.append({"name": f"masked_b2_c{c}", "raw": masked, "short": False})
        n_short = max(ts.patch_length + 1, L // 3)
        cases.append({"name": f"short_b2_c{c}_len{n_short}", "raw": series(2, c, n_short), "short": True})
    cases.append({"name": f"single_b1_c{chans[0]}", "raw": series(1, chans[0], L), "short": False})
    for case in cases:
        vals, masks = zip(*(fit_window(s, L) for s in case["raw"]), strict=False)
        case["past_values"] = np.stack(vals)
        case["past_observed_mask"] = np.stack(masks)
        if ts.freq_token_required:
            case["freq_token"] = rng.integers(0, ts.frequency_vocab_size, size=len(case["raw"])).astype(
                np.int64
            )
    return cases


def run_timeseries_parity(model: Any, onnx_path: Path, ts: TimeSeriesConfig) -> dict[str, Any]:
    """Compare onnxruntime with the torch model on :func:`_parity_cases`; return the parity block.

    Short cases go to torch *unpadded* with an all-ones mask, so granite-tsfm pads them itself;
    onnxruntime gets the runtime's padding (zeros, mask 0). Embeddings (the runtime's pooling)
    are compared too.
    """
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    records = []
    worst: dict[str, float] = {"prediction_outputs": 0.0, "backbone_hidden_state": 0.0, "embedding": 0.0}
    mean_diffs, cosines = [], []
    for case in _parity_cases(ts):
        feeds = {k: case[k] for k in ts.input_names}
        onnx_out = dict(zip(OUTPUTS, session.run(list(OUTPUTS), feeds), strict=False))
        if case["short"]:
            raw = case["raw"]
            tv = torch.tensor(np.nan_to_num(raw), dtype=torch.float32)
            tm = torch.tensor(np.isfinite(raw), dtype=torch.float32)
        else:
            tv = torch.from_numpy(case["past_values"])
            tm = torch.from_numpy(case["past_observed_mask"])
        ft = torch.from_numpy(case["freq_token"]) if ts.freq_token_required else None
        with torch.no_grad():
            ref = model(
                past_values=tv, past_observed_mask=tm, freq_token=ft, return_loss=False, return_dict=True
            )
        ref_out = {
            "prediction_outputs": ref.prediction_outputs.numpy(),
            "backbone_hidden_state": ref.backbone_hidden_state.numpy(),
        }
        observed = patch_observed(
            case["past_observed_mask"], ts.patch_length, ts.patch_stride, ts.num_patches
        )
        skip = ts.freq_token_required
        emb_onnx = pool_patches(onnx_out["backbone_hidden_state"], observed, skip_first=skip)
        emb_ref = pool_patches(ref_out["backbone_hidden_state"], observed, skip_first=skip)
        diffs = {}
        for key in ("prediction_outputs", "backbone_hidden_state"):
            if onnx_out[key].shape != ref_out[key].shape:
                raise ParityError(
                    f"{case['name']}: {key} shape {onnx_out[key].shape} != torch {ref_out[key].shape}"
                )
            d = np.abs(onnx_out[key].astype(np.float64) - ref_out[key].astype(np.float64))
            diffs[key] = float(d.max())
            mean_diffs.append(float(d.mean()))
        diffs["embedding"] = float(np.abs(emb_onnx - emb_ref).max())
        a = emb_onnx.reshape(-1, emb_onnx.shape[-1])
        b = emb_ref.reshape(-1, emb_ref.shape[-1])
        cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
        cosines.extend(cos.tolist())
        for key, value in diffs.items():
            worst[key] = max(worst[key], value)
        records.append(
            {
                "name": case["name"],
                "batch": int(case["past_values"].shape[0]),
                "channels": int(case["past_values"].shape[2]),
                "observed_fraction": float(case["past_observed_mask"].mean()),
                **{f"max_abs_diff_{k}": v for k, v in diffs.items()},
            }
        )
    max_abs = max(worst.values())
    passed = max_abs <= PARITY_TOLERANCE
    return parity_record(
        reference="granite-tsfm TinyTimeMixerForPrediction (torch, eval)",
        metric_output="prediction_outputs, backbone_hidden_state, embedding",
        max_abs_diff=max_abs,
        mean_abs_diff=float(np.mean(mean_diffs)),
        min_cosine=float(np.min(cosines)),
        mean_cosine=float(np.mean(cosines)),
        tolerance={"max_abs_diff": PARITY_TOLERANCE},
        cases=records,
        passed=passed,
        max_abs_diff_by_output=worst,
    )


# --------------------------------------------------------------------------- build
def _check_spec(spec: ModelSpec, ts: TimeSeriesConfig, progress: Callable[[str], None]) -> None:
    expected = {
        "context_length": ts.context_length,
        "prediction_length": ts.prediction_length,
        "patch_length": ts.patch_length,
        "patch_stride": ts.patch_stride,
        "freq_token": ts.freq_token_required,
    }
    for key, actual in expected.items():
        listed = spec.option(key)
        if listed is not None and listed != actual:
            progress(
                f"warning: registry lists {key}={listed!r} for {spec.id}, the checkpoint has {actual!r}; using the checkpoint"
            )
    if spec.dim != ts.d_model:
        progress(f"warning: registry dim {spec.dim} != checkpoint d_model {ts.d_model}; using the checkpoint")


def build_timeseries_artifact(
    source_dir: Path,
    out_dir: Path,
    *,
    spec: ModelSpec | None,
    model_id: str | None,
    precision: str = "fp32",
    opset: int = 17,
    overwrite: bool = False,
    source: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] = print,
) -> Manifest:
    """Export the TinyTimeMixer checkpoint in ``source_dir`` to an artifact in ``out_dir``.

    ``spec`` (a registry entry) supplies the model id, HF repo/revision and
    ``prediction_filter_length`` (when the entry has one); ``model_id`` names a local
    checkpoint without a registry entry. Only ``precision="fp32"`` is offered: the models have
    1-5M parameters, fp16/int8 do not speed them up on CPU and would break the 1e-4 parity.
    Raises :class:`ParityError` (writing nothing) when onnxruntime and torch differ by more than
    1e-4 on any parity case.
    """
    if precision != "fp32":
        raise ExportError(
            f"time-series artifacts are fp32 only (got precision={precision!r}): TinyTimeMixer has 1-5M "
            "parameters, so fp16/int8 bring no CPU speedup and would break the 1e-4 parity"
        )
    source_dir = Path(source_dir)
    out_dir = Path(out_dir)
    mid = (spec.id if spec is not None else None) or model_id or source_dir.resolve().name.lower()
    filt = spec.option("prediction_filter_length") if spec is not None else None
    progress(f"loading TinyTimeMixer from {source_dir}")
    model = load_ttm(source_dir, prediction_filter_length=filt)
    ts = timeseries_config_from_model(model)
    if spec is not None:
        _check_spec(spec, ts, progress)
    progress(
        f"context {ts.context_length}, prediction {ts.prediction_length}, patches {ts.num_patches}x{ts.patch_length}, "
        f"d_model {ts.d_model}, {ts.channel_mode}, freq token {'yes' if ts.freq_token_required else 'no'}"
    )
    with ArtifactStage(out_dir, overwrite=overwrite) as stage:
        onnx_path = stage.path / MODEL_FILE
        progress(f"exporting ONNX graph (opset {opset})")
        export_ttm_graph(model, onnx_path, ts, opset=opset)
        progress("checking parity of onnxruntime against torch")
        parity = run_timeseries_parity(model, onnx_path, ts)
        if not parity["passed"]:
            worst = parity["max_abs_diff_by_output"]
            raise ParityError(
                f"onnxruntime differs from torch by {parity['max_abs_diff']:.3g} (> {PARITY_TOLERANCE:g}); "
                f"per output: {worst}. Nothing was written to {out_dir}."
            )
        progress(f"parity ok: max abs diff {parity['max_abs_diff']:.2e} over {len(parity['cases'])} cases")
        origin: dict[str, Any] = {
            **dict(source or {}),
            "dir": str(source_dir.resolve()),
            "class": "TinyTimeMixerForPrediction",
        }
        if spec is not None:
            origin.update({"hf_repo": spec.hf_repo, "revision": spec.revision})
        manifest = Manifest(
            model_id=mid,
            paradigm="timeseries",
            architecture="tinytimemixer",
            dim=ts.d_model,
            inputs=tuple(ts.input_names),
            outputs=OUTPUTS,
            config={"timeseries": ts.to_dict()},
            precision="fp32",
            opset=opset,
            model_file=MODEL_FILE,
            parity=parity,
            versions=collect_versions(),
            source=origin,
            variants={},  # the graph is standard ONNX already; no onnxruntime-specific variant
        )
        final = stage.commit(manifest)
    progress(f"wrote {out_dir}")
    return replace(final)
