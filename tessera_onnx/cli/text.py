"""``tessera encode``, ``tessera similarity``, ``tessera info`` and ``tessera models``.

Input texts for ``encode``: a ``.jsonl`` file (one JSON string, or an object whose ``--field``
holds the text, per line), any other file (one text per line), or ``-`` for stdin.
Outputs by suffix: ``.npy`` (dense ``(n, d)`` float32), ``.npz`` (dense: ``embeddings``;
multi-vector: padded ``embeddings`` ``[n, T, d]`` + ``mask``; sparse: a scipy CSR matrix),
``.jsonl`` (one JSON object per text), or stdout as JSONL when ``-o`` is not given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..paradigms import paradigm_names, paradigms_offering
from . import main

__all__ = ["encode_command", "similarity_command", "info_command", "models_command"]

_MODEL_HELP = "artifact directory or model id (looked up in $TESSERA_HOME / ~/.cache/tessera)"


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


def _load(model: str, device: str, threads: int | None, **options: Any) -> Any:
    from ..errors import TesseraError
    from ..factory import Tessera

    try:
        return Tessera(model, device=device, threads=threads, **options)
    except TesseraError as exc:
        _fail(exc)


def read_texts(source: str, field: str) -> list[str]:
    """Texts from a .jsonl file, a text file (one per line) or ``-`` (stdin, one per line)."""
    if source == "-":
        lines = sys.stdin.read().splitlines()
        suffix = ""
    else:
        path = Path(source)
        if not path.is_file():
            raise click.BadParameter(f"no such file {source}", param_hint="INPUT")
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson"):
        return lines
    texts: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(
                f"line {number} of {source} is not JSON ({exc})", param_hint="INPUT"
            ) from None
        if isinstance(item, dict):
            if field not in item:
                raise click.BadParameter(
                    f"line {number} of {source} has no {field!r} field", param_hint="--field"
                )
            item = item[field]
        if not isinstance(item, str):
            raise click.BadParameter(
                f"line {number} of {source}: the text must be a string", param_hint="INPUT"
            )
        texts.append(item)
    return texts


def _jsonl_rows(result: Any, paradigm: str) -> Any:
    if paradigm == "sparse":
        for emb in result:
            yield {"indices": emb.indices.tolist(), "values": [round(v, 6) for v in emb.values.tolist()]}
    else:
        for emb in result:
            yield {"embedding": emb.tolist()}


def _write(result: Any, paradigm: str, output: str | None) -> None:
    import numpy as np

    suffix = Path(output).suffix.lower() if output else ".jsonl"
    if suffix in (".jsonl", ".ndjson", ".json"):
        stream = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            for row in _jsonl_rows(result, paradigm):
                stream.write(json.dumps(row) + "\n")
        finally:
            if output:
                stream.close()
        return
    if suffix == ".npy":
        if paradigm != "dense":
            raise click.BadParameter(
                f"{paradigm} embeddings cannot be one .npy array; use .npz or .jsonl", param_hint="--output"
            )
        np.save(output, result)
    elif suffix == ".npz":
        if paradigm == "dense":
            np.savez(output, embeddings=result)
        elif paradigm == "multi_vector":
            from ..ops.maxsim import pad_multivectors

            embeddings, mask = pad_multivectors(result)
            np.savez(output, embeddings=embeddings, mask=mask)
        else:
            import scipy.sparse

            from ..sparse_embedding import to_scipy

            scipy.sparse.save_npz(output, to_scipy(result))
    else:
        raise click.BadParameter(
            f"unknown output type {suffix!r}; use .npy, .npz or .jsonl", param_hint="--output"
        )


def _device_options(func: Any) -> Any:
    func = click.option("--threads", type=int, default=None, help="onnxruntime intra-op threads")(func)
    func = click.option(
        "--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or coreml"
    )(func)
    return func


@main.command("encode")
@click.argument("model")
@click.argument("input", default="-")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help=".npy, .npz or .jsonl (default: JSONL on stdout)"
)
@click.option(
    "--queries", "mode", flag_value="queries", help="encode as queries (prefix / ColBERT [Q] marker)"
)
@click.option("--documents", "mode", flag_value="documents", help="encode as documents (prefix / [D] marker)")
@click.option("--field", default="text", show_default=True, help="JSONL field holding the text")
@click.option("--dimension", type=int, default=None, help="Matryoshka size (truncate, then renormalise)")
@click.option("--top-k", type=int, default=None, help="sparse: keep the k largest weights per text")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="texts per batch at 32 tokens (a token budget); default: the library's (16 on CPU, 32 on GPU)",
)
@click.option(
    "--progress/--no-progress", default=None, help="progress bar (default: when stderr is a terminal)"
)
@_device_options
def encode_command(
    model: str,
    input: str,
    output: str | None,
    mode: str | None,
    field: str,
    dimension: int | None,
    top_k: int | None,
    batch_size: int | None,
    progress: bool | None,
    device: str,
    threads: int | None,
) -> None:
    """Embed the texts of INPUT (.jsonl, text file with one per line, or - for stdin) with MODEL."""
    from ..errors import TesseraError

    texts = read_texts(input, field)
    embedder = _load(model, device, threads)
    paradigm = embedder.manifest.paradigm
    if paradigm not in paradigms_offering("encode", "cli"):
        raise click.UsageError(f"{model} is a {paradigm} model; `tessera encode` embeds text")
    kwargs: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
    kwargs["show_progress"] = sys.stderr.isatty() if progress is None else progress
    if dimension is not None:
        if paradigm == "sparse":
            raise click.BadParameter("sparse models have no Matryoshka dimension", param_hint="--dimension")
        kwargs["dimension"] = dimension
    if top_k is not None:
        if paradigm != "sparse":
            raise click.BadParameter("--top-k applies to sparse models only", param_hint="--top-k")
        kwargs["top_k"] = top_k
    try:
        if mode == "queries":
            result = embedder.encode_queries(texts, **kwargs)
        elif mode == "documents":
            result = embedder.encode_documents(texts, **kwargs)
        else:
            result = embedder.encode(texts, **kwargs)
        _write(result, paradigm, output)
    except TesseraError as exc:
        _fail(exc)
    if output:
        click.echo(f"wrote {len(texts)} {paradigm} embeddings to {output}", err=True)


@main.command("similarity")
@click.argument("model")
@click.argument("query")
@click.argument("documents", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@_device_options
def similarity_command(
    model: str, query: str, documents: tuple[str, ...], as_json: bool, device: str, threads: int | None
) -> None:
    """Score DOCUMENTS against QUERY (cosine, MaxSim or sparse dot product), best first."""
    from ..errors import TesseraError

    embedder = _load(model, device, threads)
    try:
        scores = embedder.similarity(
            embedder.encode_queries([query]), embedder.encode_documents(list(documents))
        )[0]
    except TesseraError as exc:
        _fail(exc)
    ranked = sorted(zip(scores.tolist(), range(len(documents)), documents, strict=True), reverse=True)
    if as_json:
        click.echo(
            json.dumps([{"index": i, "score": s, "text": d} for s, i, d in ranked], ensure_ascii=False)
        )
        return
    for score, index, text in ranked:
        click.echo(f"{score:10.4f}  [{index}] {text}")


@main.command("info")
@click.argument("artifact")
@click.option("--json", "as_json", is_flag=True, help="print the full manifest as JSON")
@click.option("--verify/--no-verify", default=False, help="also check every file's sha256")
def info_command(artifact: str, as_json: bool, verify: bool) -> None:
    """Describe ARTIFACT (a directory or a cached model id) from its manifest, without running it."""
    from ..artifact import read_manifest, verify_files
    from ..errors import TesseraError
    from ..locate import resolve_artifact

    try:
        root = resolve_artifact(artifact, download=False)
        manifest = read_manifest(root)
        if verify:
            verify_files(root, manifest)
    except TesseraError as exc:
        _fail(exc)
    data = manifest.to_dict()
    if as_json:
        click.echo(json.dumps({"path": str(root), **data}, indent=2))
        return
    size = sum(int(f.get("size", 0)) for f in manifest.files.values())
    text = dict(manifest.config.get("text", {}))
    rows = [
        ("model", manifest.model_id),
        ("path", str(root)),
        ("paradigm", manifest.paradigm),
        ("architecture", manifest.architecture),
        ("dim", str(manifest.dim)),
        ("matryoshka dims", ", ".join(map(str, manifest.matryoshka_dims)) or "-"),
        ("max length", str(text.get("max_length", "-"))),
        ("precision", manifest.precision),
        ("opset", str(manifest.opset)),
        ("inputs", ", ".join(manifest.inputs)),
        ("outputs", ", ".join(manifest.outputs)),
        ("files", f"{len(manifest.files)} ({size / 1e6:.1f} MB)" + (", checksums OK" if verify else "")),
        ("created", manifest.created or "-"),
    ]
    for key, value in manifest.parity.items():
        if isinstance(value, (int, float, str)):
            rows.append((f"parity {key}", str(value)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


@main.command("models")
@click.option("--paradigm", type=click.Choice(paradigm_names()))
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def models_command(paradigm: str | None, as_json: bool) -> None:
    """List the registry's models (and whether an artifact is in the local cache)."""
    from ..locate import cache_dir, cached_artifacts
    from ..registry import list_models

    cached = set(cached_artifacts())
    specs = list_models(paradigm)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": s.id,
                        "paradigm": s.paradigm,
                        "dim": s.dim,
                        "hf_repo": s.hf_repo,
                        "matryoshka_dims": list(s.matryoshka_dims),
                        "license": s.license,
                        "cached": s.id in cached,
                    }
                    for s in specs
                ],
                indent=2,
            )
        )
        return
    if not specs:
        click.echo("no models")
        return
    width = max(len(s.id) for s in specs)
    for s in specs:
        mark = "*" if s.id in cached else " "
        click.echo(f"{mark} {s.id:<{width}}  {s.paradigm:<12}  {s.dim:>5}  {s.hf_repo}")
    if cached:
        click.echo(f"(* = artifact cached in {cache_dir()})")
