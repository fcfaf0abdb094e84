"""``tessera hyperbolic train|query|evaluate``: hierarchy embeddings from a TSV of edges.

``train`` reads ``child<TAB>parent`` lines (the closure is computed, cycles are rejected), trains
Poincaré (or Euclidean) embeddings and writes an artifact; ``query`` prints nearest neighbours,
distances and is-a scores from an artifact as JSON lines; ``evaluate`` re-computes the
reconstruction mean rank and MAP of an artifact.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import TesseraError
from . import main

__all__ = ["hyperbolic_group"]


@main.group("hyperbolic")
def hyperbolic_group() -> None:
    """Train and query hierarchy embeddings in the Poincaré ball."""


@hyperbolic_group.command("train")
@click.argument("edges", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Artifact directory to write.",
)
@click.option("--dim", "-d", type=int, default=10, show_default=True)
@click.option(
    "--manifold", type=click.Choice(["poincare", "euclidean"]), default="poincare", show_default=True
)
@click.option("--epochs", type=int, default=100, show_default=True)
@click.option("--lr", type=float, default=0.3, show_default=True)
@click.option(
    "--lr-final",
    type=float,
    default=None,
    help="Decay the lr linearly to this after the burn-in (default: constant lr).",
)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option(
    "--negatives",
    type=int,
    default=10,
    show_default=True,
    help="Negatives per edge; use 50 for hierarchies of tens of thousands of nodes.",
)
@click.option(
    "--burn-in",
    type=int,
    default=10,
    show_default=True,
    help="Epochs at lr/10 with degree-weighted negatives.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--evaluate/--no-evaluate",
    default=True,
    show_default=True,
    help="Measure mean rank and MAP after training.",
)
@click.option(
    "--eval-sample", type=int, default=None, help="Evaluate on this many random nodes instead of all."
)
def train_command(
    edges: Path,
    out: Path,
    dim: int,
    manifold: str,
    epochs: int,
    lr: float,
    lr_final: float | None,
    batch_size: int,
    negatives: int,
    burn_in: int,
    seed: int,
    evaluate: bool,
    eval_sample: int | None,
) -> None:
    """Train embeddings of the hierarchy in EDGES (child<TAB>parent lines) into an artifact."""
    from ..hyperbolic import (
        TrainConfig,
        read_edges_tsv,
        reconstruction,
        train,
        transitive_closure,
        write_artifact,
    )

    try:
        hierarchy = transitive_closure(read_edges_tsv(edges))
        config = TrainConfig(
            dim=dim,
            manifold=manifold,
            epochs=epochs,
            lr=lr,
            lr_final=lr_final,
            batch_size=batch_size,
            negatives=negatives,
            burn_in=burn_in,
            seed=seed,
        )
        click.echo(f"{hierarchy.n_nodes} nodes, {len(hierarchy.edges)} closure edges", err=True)
        result = train(hierarchy, config)
        figures = {}
        if evaluate:
            rec = reconstruction(hierarchy, result.embeddings, manifold, sample=eval_sample)
            figures = {"mean_rank": rec.mean_rank, "map": rec.map, "nodes": rec.nodes, "edges": rec.edges}
        path = write_artifact(
            out,
            hierarchy,
            result.embeddings,
            manifold=manifold,
            model_id=out.name,
            training=result.summary(),
            evaluation=figures,
        )
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        json.dumps(
            {
                "artifact": str(path),
                "train_seconds": round(result.seconds, 2),
                "final_loss": result.losses[-1] if result.losses else None,
                **figures,
            }
        )
    )


@hyperbolic_group.command("query")
@click.argument("artifact")
@click.argument("names", nargs=-1, required=True)
@click.option("--k", "-k", type=int, default=10, show_default=True, help="Neighbours per name.")
@click.option(
    "--parent", default=None, help="Also print the distance and is-a score of each NAME below this node."
)
def query_command(artifact: str, names: tuple[str, ...], k: int, parent: str | None) -> None:
    """Print the K nearest nodes of each NAME (and scores against --parent) as JSON lines."""
    from ..hyperbolic.embedder import HyperbolicEmbedder

    try:
        emb = HyperbolicEmbedder(artifact)
        for name in names:
            row: dict[str, object] = {
                "name": name,
                "norm": float((emb.encode(name) ** 2).sum() ** 0.5),
                "nearest": [{"name": n, "distance": d} for n, d in emb.nearest(name, k)],
            }
            if parent is not None:
                row["parent"] = parent
                row["distance"] = float(emb.distance(name, parent))
                row["is_a_score"] = emb.is_a_score(name, parent)
            click.echo(json.dumps(row))
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc


@hyperbolic_group.command("evaluate")
@click.argument("artifact")
@click.option("--sample", type=int, default=None, help="Evaluate on this many random nodes instead of all.")
def evaluate_command(artifact: str, sample: int | None) -> None:
    """Print the reconstruction mean rank and MAP of ARTIFACT on its own closure."""
    from ..hyperbolic.embedder import HyperbolicEmbedder
    from ..hyperbolic.evaluate import reconstruction

    try:
        emb = HyperbolicEmbedder(artifact)
        rec = reconstruction(emb.hierarchy, emb.table, emb.manifold, sample=sample)
    except TesseraError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        json.dumps({"mean_rank": rec.mean_rank, "map": rec.map, "nodes": rec.nodes, "edges": rec.edges})
    )
