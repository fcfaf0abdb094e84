"""The ``tessera-export`` command line: ``build``, ``verify``, ``list``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tessera_onnx.artifact import PARADIGMS, PRECISIONS
from tessera_onnx.cli.group import DEBUG_HELP, ContractGroup

from . import __version__
from .pages.build import DEFAULT_PAGES_INT8_PROFILE
from .precision import DEFAULT_INT8_PROFILE, INT8_PROFILES
from .progress import make_progress

__all__ = ["main"]


# shared by `build --against` and `verify --against`
_reference_python_option = click.option(
    "--reference-python",
    "reference_python",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="python of the colpali-engine venv (default: $TESSERA_COLPALI_PYTHON, else benchmarks/.venvs/colpali).",
)


@click.group(cls=ContractGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tessera-export")
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
def main(debug: bool) -> None:
    """Export embedding models into self-describing tessera ONNX artifacts (needs the [export] extra).

    Errors print one line; a TesseraError or a usage error exits with status 2, another error
    with status 1 (``--debug`` adds the traceback).
    """


@main.command()
@click.argument("model_id", required=False)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Artifact directory to create.",
)
@click.option(
    "--from-dir",
    "from_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Local HF / sentence-transformers / PyLate / Stanford checkpoint instead of the Hub.",
)
@click.option(
    "--paradigm",
    type=click.Choice(PARADIGMS),
    help="Override/choose the paradigm (models outside the registry).",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="Weight precision; fp16/int8 must pass their cosine floor against fp32 torch.",
)
@click.option(
    "--int8-profile",
    type=click.Choice(sorted(INT8_PROFILES)),
    default=None,
    help=f"int8 settings by name (with --precision int8; default {DEFAULT_INT8_PROFILE} for text models): "
    "split (FFN-out outlier channels in an fp32 branch), dynamic (FFN-out fp32; the image exporter "
    "uses it), mixed (FFN-out as 8-bit blocks) or blockwise (8-bit block weights everywhere: cosine "
    f"~0.9999, slower); page models: dynamic or blockwise (default {DEFAULT_PAGES_INT8_PROFILE}); "
    "docs/export.md, Precision.",
)
@click.option("--opset", type=click.IntRange(17, None), default=17, show_default=True)
@click.option(
    "--optimize/--no-optimize",
    default=True,
    show_default=True,
    help="Run onnxruntime's transformer optimizer (kept only if parity holds).",
)
@click.option(
    "--splade-pooling",
    type=click.Choice(["graph", "runtime"]),
    default=None,
    help="SPLADE: pool in the graph (sparse_embedding, default) or return logits and pool in numpy.",
)
@click.option("--revision", help="Hub revision (branch, tag or commit).")
@click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Hugging Face cache directory."
)
@click.option("--trust-remote-code", is_flag=True, help="Allow custom modelling code from the checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out directory.")
@click.option(
    "--matryoshka-dims",
    "matryoshka_dims",
    default=None,
    metavar="D1,D2,...",
    help="Truncation sizes the model was trained for (e.g. 768,512,256), recorded in the manifest "
    "(for models outside the registry).",
)
@click.option(
    "--colpali-engine",
    "colpali_engine",
    default=None,
    metavar="REVISION",
    help="Page retrieval: the colpali-engine prompt semantics the checkpoint was trained with "
    "(ColIdefics3: '>=0.3.13' or '<=0.3.12'; ColPali: 'hf', '>=0.3.13' or '0.3.4-0.3.10').",
)
@click.option(
    "--image-size",
    "image_size",
    type=click.IntRange(1, None),
    default=None,
    help="Page retrieval: default image size of the artifact (ColIdefics3: longest edge in px).",
)
@click.option(
    "--siglip-text",
    "text_semantics",
    type=click.Choice(["trained", "transformers"]),
    default=None,
    help="SigLIP text tower (default 'trained'): 'trained' = ids padded to max_length, no attention mask (how SigLIP was "
    "trained; big_vision, open_clip); 'transformers' = the tokenizer's attention mask is fed too.",
)
@click.option(
    "--against",
    type=click.Choice(["colpali-engine"]),
    default=None,
    help="Page retrieval: also compare the artifact with colpali-engine itself (run in its own venv, "
    "see --reference-python) and record the figures in the manifest.",
)
@_reference_python_option
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def build(
    model_id: str | None,
    out_dir: Path,
    from_dir: Path | None,
    paradigm: str | None,
    precision: str,
    int8_profile: str | None,
    opset: int,
    optimize: bool,
    splade_pooling: str | None,
    revision: str | None,
    cache_dir: Path | None,
    trust_remote_code: bool,
    overwrite: bool,
    matryoshka_dims: str | None,
    colpali_engine: str | None,
    image_size: int | None,
    text_semantics: str | None,
    against: str | None,
    reference_python: str | None,
    quiet: bool,
) -> None:
    """Export MODEL_ID (registry id or hub repo) or --from-dir DIR into an artifact at --out."""
    from .build import build_artifact

    if model_id is None and from_dir is None:
        raise click.UsageError("give MODEL_ID, --from-dir DIR, or both")
    if int8_profile is not None and precision != "int8":
        raise click.UsageError("--int8-profile goes with --precision int8")
    sizes = None
    if matryoshka_dims is not None:
        try:
            sizes = [int(x) for x in matryoshka_dims.replace(" ", "").split(",") if x]
        except ValueError:
            raise click.BadParameter(
                "a comma-separated list of integers", param_hint="--matryoshka-dims"
            ) from None
    manifest = build_artifact(
        from_dir if from_dir is not None else model_id,
        out_dir,
        model_id=model_id,
        paradigm=paradigm,
        precision=precision,
        opset=opset,
        optimize=optimize,
        splade_pooling=splade_pooling,
        revision=revision,
        int8_profile=int8_profile,
        cache_dir=cache_dir,
        trust_remote_code=trust_remote_code,
        overwrite=overwrite,
        progress=make_progress(not quiet),
        matryoshka_dims=sizes,
        colpali_engine=colpali_engine,
        image_size=image_size,
        text_semantics=text_semantics,
        against=against,
        reference_python=reference_python,
    )
    p = manifest.parity
    click.echo(
        f"{manifest.model_id}: {manifest.paradigm} {manifest.architecture} dim {manifest.dim} {manifest.precision} "
        f"→ {out_dir}  (parity max_abs_diff {p.get('max_abs_diff', float('nan')):.2e}, "
        f"min cosine {p.get('min_cosine', float('nan')):.6f})"
    )


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option(
    "--from-dir",
    "from_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Torch checkpoint to re-run parity against.",
)
@click.option(
    "--against",
    type=click.Choice(["colpali-engine"]),
    default=None,
    help="Page retrieval: compare with colpali-engine itself on the checkpoint given by --from-dir "
    "(ids, pixels, vectors, scores), run in its own venv (--reference-python).",
)
@_reference_python_option
@click.option(
    "--page",
    "pages",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="With --against: a page image to compare on (repeatable; default: three synthetic pages).",
)
@click.option("--query", "queries", multiple=True, help="With --against: a query to compare on (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-q", "--quiet", is_flag=True)
def verify(
    artifact: Path,
    from_dir: Path | None,
    against: str | None,
    reference_python: str | None,
    pages: tuple[str, ...],
    queries: tuple[str, ...],
    as_json: bool,
    quiet: bool,
) -> None:
    """Re-check ARTIFACT: sha256 of every file, a smoke inference, and parity with --from-dir."""
    from .verify import verify_artifact

    report = verify_artifact(
        artifact, from_dir=None if against else from_dir, progress=make_progress(not quiet)
    )
    if against:
        if from_dir is None:
            raise click.UsageError("--against colpali-engine needs the checkpoint: --from-dir DIR")
        report["colpali_engine"] = _against_colpali_engine(
            artifact, from_dir, pages, queries, reference_python
        )
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    line = f"OK {artifact}: {report['files']} files match their sha256; smoke inference {report['smoke']}"
    if "parity" in report:
        p = report["parity"]
        line += f"; parity max_abs_diff {p['max_abs_diff']:.2e}, min cosine {p['min_cosine']:.6f}"
    if "colpali_engine" in report:
        c = report["colpali_engine"]
        line += (
            f"; {c['reference']}: ids {'equal' if c['ids_equal'] else 'DIFFER'}, pixels {c['max_abs_diff_pixels']:.1e}, "
            f"vectors {c['max_abs_diff_vectors']:.1e}, scores {c['max_abs_diff_scores']:.1e}"
        )
    click.echo(line)
    if "colpali_engine" in report and not report["colpali_engine"]["passed"]:
        sys.exit(1)


def _against_colpali_engine(
    artifact: Path, checkpoint: Path, pages: tuple[str, ...], queries: tuple[str, ...], python: str | None
) -> dict:
    """colpali-engine vs ARTIFACT on the given (or the synthetic parity) pages and queries."""
    import tempfile

    from tessera_onnx.artifact import read_manifest

    from .pages.against import compare_with_colpali_engine
    from .pages.build import AGAINST_QUERIES, write_parity_images

    family = read_manifest(artifact).config["pages"]["family"]
    with tempfile.TemporaryDirectory() as work:
        images = list(pages) or write_parity_images(Path(work))
        return compare_with_colpali_engine(
            artifact, checkpoint, images, list(queries) or AGAINST_QUERIES[family], python=python
        )


@main.command("list")
@click.option("--paradigm", type=click.Choice(PARADIGMS))
@click.option("--json", "as_json", is_flag=True)
def list_cmd(paradigm: str | None, as_json: bool) -> None:
    """List the registry's models."""
    from tessera_onnx.registry import list_models

    models = list_models(paradigm)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": m.id,
                        "hf_repo": m.hf_repo,
                        "paradigm": m.paradigm,
                        "architecture": m.architecture,
                        "dim": m.dim,
                    }
                    for m in models
                ],
                indent=2,
            )
        )
        return
    width = max(len(m.id) for m in models) if models else 10
    for m in models:
        click.echo(f"{m.id:<{width}}  {m.paradigm:<12}  {m.architecture:<12}  {m.dim:>6}  {m.hf_repo}")


if __name__ == "__main__":  # pragma: no cover
    main()
