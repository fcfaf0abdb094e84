"""``tessera embed-images`` (a folder of images → ``.npy``) and ``tessera classify`` (zero-shot labels).

``embed-images`` streams: images are decoded in a thread pool batch by batch and the vectors are
written into a memory-mapped ``.npy``, so a folder of any size runs in constant memory. The
image paths, in the row order of the ``.npy``, go to ``<output>.paths.txt``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from . import main
from .text import _fail, _load

__all__ = ["embed_images_command", "classify_command", "IMAGE_SUFFIXES", "list_images"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def list_images(inputs: tuple[str, ...], recursive: bool) -> list[Path]:
    """Image files named directly, or found (sorted, by suffix) in the given folders."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files.extend(
                sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise click.BadParameter(f"no such file or folder {item}", param_hint="INPUTS")
    if not files:
        raise click.BadParameter("no image files found", param_hint="INPUTS")
    return files


def _vision_model(model: str, device: str, threads: int | None, **options: Any) -> Any:
    embedder = _load(model, device, threads, **options)
    if getattr(embedder, "paradigm", None) != "vision" or not hasattr(embedder, "encode_images"):
        raise click.ClickException(f"{model} is not an image–text (vision) artifact")
    return embedder


@main.command("embed-images")
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="output .npy file")
@click.option("--recursive", is_flag=True, help="descend into sub-folders")
@click.option(
    "--batch-size",
    default=None,
    type=click.IntRange(min=1),
    help="images per batch (default: the library's, 32)",
)
@click.option("--workers", default=None, type=int, help="image decoding threads (default: CPUs, at most 4)")
@click.option("--raw", is_flag=True, help="write the model's un-normalised vectors")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", default=None, type=int, help="onnxruntime intra-op threads")
def embed_images_command(
    model: str,
    inputs: tuple[str, ...],
    output: str,
    recursive: bool,
    batch_size: int | None,
    workers: int | None,
    raw: bool,
    device: str,
    threads: int | None,
) -> None:
    """Embed image files / folders INPUTS with MODEL into OUTPUT (.npy, float32 [N, D])."""
    import numpy as np

    from ..errors import TesseraError

    files = list_images(inputs, recursive)
    options: dict[str, Any] = {"workers": workers}
    if batch_size is not None:
        options["batch_size"] = batch_size
    embedder = _vision_model(model, device, threads, **options)
    out_path = Path(output)
    if out_path.suffix != ".npy":
        raise click.BadParameter("the output must end in .npy", param_hint="--output")
    array = np.lib.format.open_memmap(
        out_path, mode="w+", dtype=np.float32, shape=(len(files), embedder.dimension)
    )
    try:
        for indices, vectors in embedder.iter_image_embeddings(files, normalize=not raw):
            array[indices.start : indices.stop] = vectors
    except TesseraError as exc:
        del array
        out_path.unlink(missing_ok=True)
        index = getattr(exc, "index", None)
        _fail(type(exc)(f"{files[index]}: {exc}") if index is not None else exc)
    array.flush()
    del array
    names = out_path.with_name(out_path.name + ".paths.txt")
    names.write_text("".join(f"{p}\n" for p in files), encoding="utf-8")
    click.echo(f"wrote {len(files)} x {embedder.dimension} to {out_path} (paths in {names})", err=True)


@main.command("classify")
@click.argument("model")
@click.argument("images", nargs=-1, required=True)
@click.option("-l", "--label", "labels", multiple=True, required=True, help="a candidate label (repeat)")
@click.option("--template", default=None, help="prompt with {} for the label (default: the model's)")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", default=None, type=int, help="onnxruntime intra-op threads")
def classify_command(
    model: str,
    images: tuple[str, ...],
    labels: tuple[str, ...],
    template: str | None,
    device: str,
    threads: int | None,
) -> None:
    """Score IMAGES against the --label candidates; print one JSON line per image."""
    from ..errors import TesseraError

    embedder = _vision_model(model, device, threads)
    try:
        probs = embedder.classify(list(images), list(labels), template=template)
    except TesseraError as exc:
        _fail(exc)
    for path, row in zip(images, probs, strict=True):
        ranked = sorted(zip(labels, row.tolist(), strict=True), key=lambda x: -x[1])
        click.echo(
            json.dumps(
                {
                    "image": path,
                    "score": embedder.config.score,
                    "labels": [{"label": lab, "probability": round(p, 6)} for lab, p in ranked],
                }
            )
        )
