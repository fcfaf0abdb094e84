"""Export of text encoders (BERT, ModernBERT, XLM-R, ...) for the dense, multi_vector and sparse paradigms."""

from __future__ import annotations

import inspect
import json
import shutil
import string
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera_onnx.artifact import Manifest
from tessera_onnx.errors import ExportError
from tessera_onnx.paradigms import PARADIGM_TABLE
from tessera_onnx.registry import ModelSpec
from tessera_onnx.text.config import DenseConfig, MultiVectorConfig, SparseConfig, TextConfig

from .artifact_writer import ArtifactStage
from .checkpoint import CheckpointInfo, infer_paradigm, inspect_checkpoint
from .graph_finish import finish_encoder_graph
from .layouts import load_tokenizer
from .onnx_export import DEFAULT_OPSET, export_graph
from .parity import run_parity as _run_parity
from .parity import text_cases, torch_outputs
from .precision import FLOORS
from .progress import Progress, silent
from .versions import collect_versions

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "build_text_artifact",
    "TEXT_PARADIGMS",
    "SPLADE_POOLING_DEFAULT",
    "resolve_text_settings",
    "reference_graph",
    "reparity",
]

# the paradigms this module exports (rows of the paradigm table naming build_text_artifact)
TEXT_PARADIGMS = tuple(p.name for p in PARADIGM_TABLE if p.exporter == f"{__name__}:build_text_artifact")
# "graph": activation + mask + max baked into the graph (output sparse_embedding [B, V]);
# "runtime": graph returns logits [B, T, V] and numpy pools. Chosen by benchmarks/splade_graph_pooling.py.
SPLADE_POOLING_DEFAULT = "graph"
_TOKENIZER_EXTRAS = ("tokenizer_config.json", "special_tokens_map.json")


@dataclass
class TextSettings:
    paradigm: str
    text: TextConfig
    paradigm_config: dict[str, Any]
    output_name: str
    extras: dict[str, Any]


def _opt(spec: ModelSpec | None, name: str, default: Any = None) -> Any:
    return spec.option(name, default) if spec is not None else default


def _added_token_id(tokenizer_json: Path, content: str) -> int | None:
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    for tok in data.get("added_tokens", []):
        if tok.get("content") == content:
            return int(tok["id"])
    return None


def _vocab_id(tokenizer, token: str) -> int:
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or (
        tokenizer.unk_token_id is not None and tid == tokenizer.unk_token_id and token != tokenizer.unk_token
    ):
        raise ExportError(f"marker token {token!r} is not in the tokenizer vocabulary")
    return int(tid)


def _max_length(info: CheckpointInfo, spec: ModelSpec | None, tokenizer) -> int:
    cfg = info.hf_config
    limit = int(cfg.get("max_position_embeddings") or 512)
    if cfg.get("model_type") in ("roberta", "xlm-roberta", "camembert"):
        limit -= int(cfg.get("pad_token_id", 1)) + 1
    if info.st_config.get("max_seq_length"):
        return int(info.st_config["max_seq_length"])
    if spec is not None and spec.max_length:
        return int(spec.max_length)
    tmax = getattr(tokenizer, "model_max_length", None) or limit
    return int(min(tmax, limit)) if tmax < 1_000_000 else limit


def resolve_text_settings(
    info: CheckpointInfo,
    spec: ModelSpec | None,
    paradigm: str,
    tokenizer: PreTrainedTokenizerBase,
    tokenizer_json: Path,
    *,
    splade_pooling: str = SPLADE_POOLING_DEFAULT,
    dim_hint: int | None = None,
) -> TextSettings:
    """Merge registry facts and the checkpoint's own config (the checkpoint wins) into manifest configs."""
    stm = info.st_model_config
    prompts = {k: v for k, v in (stm.get("prompts") or {}).items() if isinstance(v, str)}
    query_prefix = _opt(spec, "query_prefix", "")
    document_prefix = _opt(spec, "document_prefix", "")
    if paradigm != "multi_vector":
        query_prefix = prompts.get("query", query_prefix)
        document_prefix = next(
            (prompts[k] for k in ("document", "passage", "corpus") if k in prompts), document_prefix
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    text = TextConfig(
        tokenizer_file="tokenizer.json",
        max_length=_max_length(info, spec, tokenizer),
        strip=True,
        lowercase=bool(info.st_config.get("do_lower_case", False)),
        pad_token_id=int(pad_id),
        padding_side="right",
        query_prefix=query_prefix or "",
        document_prefix=document_prefix or "",
        prompts=prompts,
    )
    extras: dict[str, Any] = {}
    if paradigm == "dense":
        pooling = info.pooling_mode() or _opt(spec, "pooling", "mean")
        if info.modules:
            normalize = info.normalize_module
        else:
            normalize = bool(_opt(spec, "normalize", True))
        cfg = DenseConfig(
            pooling=pooling,
            normalize=normalize,
            layer_norm=bool(_opt(spec, "layer_norm", False)),
            include_prompt=bool((info.pooling or {}).get("include_prompt", True)),
            pooled_in_graph=bool(info.dense_modules),
        )
        output = "sentence_embedding" if cfg.pooled_in_graph else "last_hidden_state"
        return TextSettings(paradigm, text, cfg.to_dict(), output, extras)
    if paradigm == "multi_vector":
        meta = info.stanford_metadata
        pylate = info.is_pylate or (not info.stanford_linear and _opt(spec, "projection") == "pylate")
        if pylate:
            q_marker = stm.get("query_prefix") or _opt(spec, "query_marker") or "[Q] "
            d_marker = stm.get("document_prefix") or _opt(spec, "document_marker") or "[D] "
            q_id, d_id = _added_token_id(tokenizer_json, q_marker), _added_token_id(tokenizer_json, d_marker)
            if q_id is None or d_id is None:
                raise ExportError(
                    f"PyLate markers {q_marker!r}/{d_marker!r} are not added tokens of {tokenizer_json.name}"
                )
        else:
            q_marker = meta.get("query_token_id") or _opt(spec, "query_marker") or "[unused0]"
            d_marker = meta.get("doc_token_id") or _opt(spec, "document_marker") or "[unused1]"
            q_id, d_id = _vocab_id(tokenizer, q_marker), _vocab_id(tokenizer, d_marker)
        mask_id = tokenizer.mask_token_id
        if mask_id is None:
            mask_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else pad_id
        query_length = stm.get("query_length") or meta.get("query_maxlen") or _opt(spec, "query_length") or 32
        document_length = (
            stm.get("document_length") or meta.get("doc_maxlen") or _opt(spec, "document_length") or 180
        )
        attend = stm.get(
            "attend_to_expansion_tokens",
            meta.get("attend_to_mask_tokens", _opt(spec, "attend_to_expansion_tokens", False)),
        )
        if "skiplist_words" in stm:
            words = list(stm.get("skiplist_words") or [])
        elif meta.get("mask_punctuation", True) and _opt(spec, "skiplist", "punctuation") == "punctuation":
            words = list(string.punctuation)
        else:
            words = []
        skip: set[int] = set()
        for word in words:
            if pylate:  # PyLate: tokenizer.convert_tokens_to_ids(word), unknown words dropped
                tid = tokenizer.convert_tokens_to_ids(word)
                if tid is not None and tid != tokenizer.unk_token_id:
                    skip.add(int(tid))
            else:  # Stanford: first id of tokenizer.encode(word, add_special_tokens=False)
                ids = tokenizer.encode(word, add_special_tokens=False)
                if ids:
                    skip.add(int(ids[0]))
        cfg = MultiVectorConfig(
            query_marker_id=int(q_id),
            document_marker_id=int(d_id),
            mask_token_id=int(mask_id),
            query_length=int(query_length),
            document_length=int(document_length),
            attend_to_expansion_tokens=bool(attend),
            do_query_expansion=bool(stm.get("do_query_expansion", True)),
            skiplist_ids=tuple(sorted(skip)),
            normalize=True,
        )
        extras = {
            "query_marker": q_marker,
            "document_marker": d_marker,
            "projection": "pylate" if pylate else "stanford",
        }
        return TextSettings(paradigm, text, {**cfg.to_dict(), **extras}, "token_embeddings", extras)
    if paradigm == "sparse":
        sp = info.splade_pooling or {}
        activation = _opt(spec, "activation", "log1p_relu")
        if sp.get("activation_function") == "log1p_relu":
            activation = "log1p_log1p_relu"
        elif sp.get("activation_function") == "relu":
            activation = "log1p_relu"
        aggregation = sp.get("pooling_strategy") or _opt(spec, "aggregation", "max")
        if splade_pooling not in ("graph", "runtime"):
            raise ExportError(f"splade pooling must be 'graph' or 'runtime', got {splade_pooling!r}")
        cfg = SparseConfig(
            activation=activation,
            aggregation=aggregation,
            pooled_in_graph=splade_pooling == "graph",
            vocab_size=int(dim_hint or info.hf_config.get("vocab_size", 30522)),
        )
        output = "sparse_embedding" if cfg.pooled_in_graph else "logits"
        return TextSettings(paradigm, text, cfg.to_dict(), output, extras)
    raise ExportError(f"paradigm {paradigm!r} is not a text paradigm {TEXT_PARADIGMS}")


def _load_model(
    info: CheckpointInfo, paradigm: str, trust_remote_code: bool, code_revision: str | None = None
):
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM

    cls = AutoModelForMaskedLM if paradigm == "sparse" else AutoModel
    path = info.transformer_path or info.root
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "dtype": torch.float32}
    if trust_remote_code and code_revision:
        kwargs["code_revision"] = code_revision  # pins custom code that lives in another repo
    try:
        model, loading = cls.from_pretrained(
            str(path), attn_implementation="eager", output_loading_info=True, **kwargs
        )
    except (ValueError, TypeError) as exc:
        if "attn_implementation" not in str(exc) and "eager" not in str(exc):
            raise ExportError(f"cannot load {path} with {cls.__name__}: {exc}") from exc
        model, loading = cls.from_pretrained(str(path), output_loading_info=True, **kwargs)
    except OSError as exc:
        raise ExportError(f"cannot load {path} with {cls.__name__}: {exc}") from exc
    missing = [k for k in loading.get("missing_keys", []) if "position_ids" not in k]
    if missing:
        raise ExportError(
            f"{path}: {len(missing)} weights are missing from the checkpoint (e.g. {missing[:3]}); "
            f"it is not a {cls.__name__.replace('Auto', '')} checkpoint for paradigm {paradigm!r}"
        )
    return model.eval()


def _input_names(model) -> list[str]:
    params = inspect.signature(model.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in params and int(getattr(model.config, "type_vocab_size", 0) or 0) > 1:
        names.append("token_type_ids")
    return names


def _write_tokenizer(info: CheckpointInfo, tokenizer, stage: Path) -> Path:
    src_dir = info.transformer_path or info.root
    target = stage / "tokenizer.json"
    if (src_dir / "tokenizer.json").is_file():
        data = json.loads((src_dir / "tokenizer.json").read_text(encoding="utf-8"))
    elif getattr(tokenizer, "is_fast", False):
        data = json.loads(tokenizer.backend_tokenizer.to_str())
    else:
        raise ExportError(f"{src_dir} has no tokenizer.json and its tokenizer has no fast version")
    # the runtime pads/truncates from the manifest: no baked-in padding or truncation
    data["truncation"] = None
    data["padding"] = None
    target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    for name in _TOKENIZER_EXTRAS:
        if (src_dir / name).is_file():
            shutil.copyfile(src_dir / name, stage / name)
    return target


def reference_graph(
    model: Any,
    input_names: Sequence[str],
    paradigm: str,
    paradigm_config: Mapping[str, Any],
    projection: Any,
    *,
    where: Any = "the checkpoint",
) -> tuple[Any, int]:
    """The torch module whose outputs the graph must match, and the artifact's ``dim``.

    Dense: the pooled (+ projected) sentence embedding when the checkpoint has Dense modules,
    else the encoder's ``last_hidden_state`` (pooled in numpy at run time). ColBERT: projected
    token vectors. SPLADE: pooled weights when pooling runs in the graph, else the MLM logits.
    Used by the export and by ``tessera-export verify --from`` alike.
    """
    from .wrappers import ColBERTGraph, EncoderGraph, PooledDenseGraph, SpladeLogitsGraph, SpladePooledGraph

    if paradigm == "dense":
        if projection is not None:
            return PooledDenseGraph(model, input_names, paradigm_config["pooling"], projection), int(
                projection.out_features
            )
        return EncoderGraph(model, input_names), int(model.config.hidden_size)
    if paradigm == "multi_vector":
        if projection is None:
            raise ExportError(
                f"{where}: a ColBERT checkpoint needs Dense modules (PyLate/ST) or a "
                "Stanford linear.weight; found neither"
            )
        return ColBERTGraph(model, input_names, projection), int(projection.out_features)
    if paradigm_config.get("pooled_in_graph"):
        module = SpladePooledGraph(
            model, input_names, paradigm_config["activation"], paradigm_config["aggregation"]
        )
    else:
        module = SpladeLogitsGraph(model, input_names)
    return module, int(model.config.vocab_size)


def reparity(root: Path, manifest: Any, from_dir: Path, progress: Progress = silent) -> dict[str, Any]:
    """Rebuild the torch reference from checkpoint ``from_dir`` and re-run the export-time parity check."""
    from .wrappers import load_projection

    progress(f"loading torch model from {from_dir}")
    info = inspect_checkpoint(from_dir)
    paradigm = manifest.paradigm
    model = _load_model(info, paradigm, trust_remote_code=False)
    names = list(manifest.inputs)
    projection = load_projection(info) if paradigm in ("dense", "multi_vector") else None
    if paradigm == "dense" and manifest.outputs[0] == "last_hidden_state":
        projection = None  # exported without its Dense modules: compare the encoder output
    module, _ = reference_graph(model, names, paradigm, manifest.config.get(paradigm, {}), projection)
    module.eval()
    text = TextConfig.from_dict(manifest.config.get("text"))
    cases = text_cases(
        load_tokenizer(root / text.tokenizer_file),
        paradigm=paradigm,
        max_length=text.max_length,
        pad_id=text.pad_token_id,
        lowercase=text.lowercase,
        mv=manifest.config.get("multi_vector"),
    )
    progress("re-running parity")
    reference = torch_outputs(module, cases, names)
    return _run_parity(
        reference,
        root / manifest.model_file,
        cases,
        input_names=names,
        output_name=manifest.outputs[0],
        config=manifest.config,
        precision=manifest.precision,
    )


def build_text_artifact(
    source_dir: Path,
    out_dir: Path,
    *,
    spec: ModelSpec | None = None,
    model_id: str | None = None,
    paradigm: str | None = None,
    precision: str = "fp32",
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
    splade_pooling: str = SPLADE_POOLING_DEFAULT,
    int8_profile: str | None = None,
    trust_remote_code: bool = False,
    overwrite: bool = False,
    source: Mapping[str, Any] | None = None,
    progress: Progress = silent,
    matryoshka_dims: Sequence[int] | None = None,
) -> Manifest:
    """Export one text checkpoint directory into an artifact at ``out_dir`` (see :func:`tessera_export.build_artifact`).

    ``matryoshka_dims`` (sizes the model was trained to be truncated to) override the registry's.
    """
    from transformers import AutoTokenizer

    from .wrappers import (
        load_projection,
    )

    source_dir = Path(source_dir)
    progress(f"reading checkpoint {source_dir}")
    info = inspect_checkpoint(source_dir)
    paradigm = paradigm or (spec.paradigm if spec else None) or infer_paradigm(info)
    if paradigm not in TEXT_PARADIGMS:
        raise ExportError(f"paradigm {paradigm!r} is not a text paradigm {TEXT_PARADIGMS}")
    if spec is not None and spec.trust_remote_code and not trust_remote_code:
        raise ExportError(
            f"{spec.id} needs trust_remote_code=True (custom modelling code); pass --trust-remote-code"
        )
    if precision not in FLOORS:
        raise ExportError(f"unknown precision {precision!r}; choose one of {tuple(FLOORS)}")
    model_id = model_id or (spec.id if spec else None) or source_dir.resolve().name.lower()

    with ArtifactStage(out_dir, overwrite=overwrite) as stage, tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        tokenizer = AutoTokenizer.from_pretrained(
            str(info.transformer_path or source_dir), trust_remote_code=trust_remote_code
        )
        tok_path = _write_tokenizer(info, tokenizer, stage.path)
        progress(f"loading torch model ({info.model_type}, paradigm {paradigm})")
        code_revision = spec.code_revision if spec is not None else None
        if (
            trust_remote_code
            and spec is not None
            and spec.trust_remote_code
            and not (spec.revision and code_revision)
        ):
            progress(f"note: {spec.id} runs custom code whose revision the registry does not pin")
        model = _load_model(info, paradigm, trust_remote_code, code_revision)
        input_names = _input_names(model)
        projection = load_projection(info) if paradigm in ("dense", "multi_vector") else None
        vocab = int(model.config.vocab_size)
        settings = resolve_text_settings(
            info, spec, paradigm, tokenizer, tok_path, splade_pooling=splade_pooling, dim_hint=vocab
        )
        pcfg = settings.paradigm_config
        module, dim = reference_graph(model, input_names, paradigm, pcfg, projection, where=source_dir)
        module.eval()
        if spec is not None and spec.paradigm == paradigm and spec.dim != dim:
            raise ExportError(f"registry says {spec.id} has dim {spec.dim}, the checkpoint gives {dim}")
        config: dict[str, Any] = {"text": settings.text.to_dict(), paradigm: pcfg}

        tok = load_tokenizer(tok_path)
        cases = text_cases(
            tok,
            paradigm=paradigm,
            max_length=settings.text.max_length,
            pad_id=settings.text.pad_token_id,
            lowercase=settings.text.lowercase,
            mv=pcfg,
        )
        progress(f"running torch reference on {len(cases)} parity batches")
        reference = torch_outputs(module, cases, input_names)

        raw = work_dir / "model.raw.onnx"
        progress(f"exporting ONNX graph (opset {opset}, output {settings.output_name})")
        export_graph(
            module,
            cases[1].feeds if len(cases) > 1 else cases[0].feeds,
            input_names,
            settings.output_name,
            raw,
            opset=opset,
        )

        def parity(path: Path, prec: str, raise_on_fail: bool = True, label: str = "") -> dict[str, Any]:
            return _run_parity(
                reference,
                path,
                cases,
                input_names=input_names,
                output_name=settings.output_name,
                config=config,
                precision=prec,
                raise_on_fail=raise_on_fail,
                label=label,
            )

        record, graph_info, variants = finish_encoder_graph(
            raw,
            stage.path / "model.onnx",
            work_dir,
            parity=parity,
            precision=precision,
            optimize=optimize,
            num_heads=int(getattr(model.config, "num_attention_heads", 0)),
            hidden_size=int(getattr(model.config, "hidden_size", 0)),
            int8_profile=int8_profile,
            calibration=[c.feeds for c in cases],
            progress=progress,
        )
        config["export"] = graph_info
        progress(
            f"parity ok: max_abs_diff={record['max_abs_diff']:.3g}, min_cosine={record['min_cosine']:.6f}"
        )

        src = dict(source or {"type": "local", "path": str(source_dir.resolve())})
        if spec is not None:
            src.setdefault("hf_repo", spec.hf_repo)
        manifest = Manifest(
            model_id=model_id,
            paradigm=paradigm,
            architecture=info.model_type,
            dim=int(dim),
            inputs=tuple(input_names),
            outputs=(settings.output_name,),
            config=config,
            matryoshka_dims=_matryoshka_dims(matryoshka_dims, spec, paradigm, int(dim)),
            precision=precision,
            opset=int(graph_info.get("opset", opset)),
            model_file="model.onnx",
            parity=record,
            versions=collect_versions(),
            source=src,
            variants=variants,
        )
        result = stage.commit(manifest)
    progress(f"artifact written to {Path(out_dir).resolve()}")
    return result


def _matryoshka_dims(
    given: Sequence[int] | None, spec: ModelSpec | None, paradigm: str, dim: int
) -> tuple[int, ...]:
    """The Matryoshka sizes to record: ``given`` (checked, full width first), else the registry's."""
    if given is None:
        return tuple(spec.matryoshka_dims) if spec is not None and spec.paradigm == paradigm else ()
    sizes = sorted({int(d) for d in given} | {dim}, reverse=True)
    if sizes[-1] < 1 or sizes[0] != dim:
        raise ExportError(f"matryoshka_dims {list(given)} must be integers in 1..{dim} (the model's width)")
    return tuple(sizes)
