"""``tessera embed-dataset``: Parquet / JSONL / text files → embeddings in Parquet, on Ray Data (resumable)."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from ..distributed.embedder import ENCODE_METHODS
from . import main

__all__ = ["embed_dataset_command"]


@main.command("embed-dataset")
@click.argument("inputs", nargs=-1, required=True)
@click.argument("output_dir")
@click.option("--model", "-m", required=True, help="artifact directory (readable on every node) or model id")
@click.option("--text-column", default="text", show_default=True, help="column / JSON field holding the text")
@click.option(
    "--id-column", default=None, help="id column to carry (default: generate '<file>:<row>' as 'id')"
)
@click.option(
    "--keep-column", "keep_columns", multiple=True, help="another input column to carry (repeatable)"
)
@click.option("--keep-text", is_flag=True, help="write the text next to its embedding")
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["parquet", "jsonl", "text"]),
    default=None,
    help="format of the named files (default: by extension)",
)
@click.option(
    "--shard-rows", type=int, default=1024, show_default=True, help="rows per shard (unit of retry/resume)"
)
@click.option(
    "--actors", type=int, default=None, help="actor-pool size (default: as many as the cluster fits)"
)
@click.option(
    "--cpus-per-actor",
    type=float,
    default=1.0,
    show_default=True,
    help="CPUs = onnxruntime threads per actor",
)
@click.option(
    "--gpus-per-actor", type=float, default=0.0, show_default=True, help="GPUs per actor (CUDA when > 0)"
)
@click.option(
    "--method",
    type=click.Choice(list(ENCODE_METHODS)),
    default="encode",
    show_default=True,
    help="embedder method (documents/queries add the model's prefixes; encode_images reads a "
    "column of image paths or encoded image bytes)",
)
@click.option(
    "--quantize",
    type=click.Choice(["ubinary", "binary"]),
    default=None,
    help="write binary codes instead of float vectors (int8/int4 need ranges: use the Python API)",
)
@click.option(
    "--address", default=None, help="Ray address for ray.init ('auto' joins this machine's cluster)"
)
def embed_dataset_command(
    inputs: tuple[str, ...],
    output_dir: str,
    model: str,
    text_column: str,
    id_column: str | None,
    keep_columns: tuple[str, ...],
    keep_text: bool,
    input_format: str | None,
    shard_rows: int,
    actors: int | None,
    cpus_per_actor: float,
    gpus_per_actor: float,
    method: str,
    quantize: str | None,
    address: str | None,
) -> None:
    """Embed INPUTS (files or directories) into Parquet shards under OUTPUT_DIR; rerun to resume."""
    from ..distributed import embed_dataset
    from ..errors import TesseraError

    try:
        report = embed_dataset(
            list(inputs),
            output_dir,
            model,
            text_column=text_column,
            id_column=id_column,
            keep_columns=keep_columns,
            keep_text=keep_text,
            input_format=input_format,
            shard_rows=shard_rows,
            actors=actors,
            cpus_per_actor=cpus_per_actor,
            gpus_per_actor=gpus_per_actor,
            method=method,
            quantization=quantize,
            address=address,
        )
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({k: str(v) if k == "output_dir" else v for k, v in asdict(report).items()}))
