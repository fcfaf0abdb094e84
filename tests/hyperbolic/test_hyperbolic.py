"""Hierarchy closure, training, evaluation, artifact, HyperbolicEmbedder and CLI on a generated tree.

Tolerances: the analytic Poincaré gradient matches central finite differences to 1e-6 relative;
the vectorised evaluator equals a brute-force one to 1e-12.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from committed_artifacts import hyperbolic_pairs as tree_pairs

from tessera_onnx import Tessera
from tessera_onnx.cli import main
from tessera_onnx.errors import ChecksumError, HierarchyError, InvalidInputError, UnknownNodeError
from tessera_onnx.hyperbolic import (
    HyperbolicEmbedder,
    TrainConfig,
    read_edges_tsv,
    reconstruction,
    train,
    transitive_closure,
    write_artifact,
)
from tessera_onnx.hyperbolic.train import _poincare_grads
from tessera_onnx.ops import poincare as P


@pytest.fixture(scope="module")
def tree():
    return transitive_closure(tree_pairs())


@pytest.fixture(scope="module")
def trained(tree):
    return train(tree, TrainConfig(dim=5, epochs=40, batch_size=16, seed=0))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory, tree, trained):
    path = tmp_path_factory.mktemp("hyp") / "tree-poincare"
    rec = reconstruction(tree, trained.embeddings)
    return write_artifact(
        path,
        tree,
        trained.embeddings,
        training=trained.summary(),
        evaluation={"map": rec.map, "mean_rank": rec.mean_rank},
    )


def test_closure_of_a_tree_and_a_dag():
    h = transitive_closure(tree_pairs(3, 3))
    assert h.n_nodes == 1 + 3 + 9 + 27
    assert len(h.edges) == 3 * 1 + 9 * 2 + 27 * 3  # each node links to all its ancestors
    ids = h.ids(["root.0.1.2", "root.0", "root.1"])
    assert h.has_edges(ids[:1].repeat(2), ids[1:]).tolist() == [True, False]
    dag = transitive_closure([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    assert {tuple(dag.names[i] for i in e) for e in dag.edges} == {
        ("a", "b"),
        ("a", "c"),
        ("a", "d"),
        ("b", "d"),
        ("c", "d"),
    }


def test_bad_hierarchies_are_typed_errors(tmp_path):
    with pytest.raises(HierarchyError, match="cycle"):
        transitive_closure([("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")])
    with pytest.raises(HierarchyError, match="self-loop"):
        transitive_closure([("a", "a")])
    with pytest.raises(HierarchyError, match="no edges"):
        transitive_closure([])
    with pytest.raises(UnknownNodeError):
        transitive_closure([("a", "b")], names=["a"])
    bad = tmp_path / "bad.tsv"
    bad.write_text("# comment\nchild\tparent\nlonely\n")
    with pytest.raises(HierarchyError, match="bad.tsv:3"):
        read_edges_tsv(bad)
    with pytest.raises(UnknownNodeError, match="nope"):
        transitive_closure(tree_pairs()).ids(["nope"])


def test_poincare_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    u = rng.uniform(-0.4, 0.4, size=(3, 4))  # norms < 0.8: finite differences stay accurate
    v = rng.uniform(-0.4, 0.4, size=(3, 5, 4))
    d, gu, gv = _poincare_grads(u, v)
    np.testing.assert_allclose(d, P.dist(u[:, None], v), rtol=1e-9)
    h = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        num_u = (P.dist_arcosh((u + e)[:, None], v) - P.dist_arcosh((u - e)[:, None], v)) / (2 * h)
        num_v = (P.dist_arcosh(u[:, None], v + e) - P.dist_arcosh(u[:, None], v - e)) / (2 * h)
        np.testing.assert_allclose(gu[..., i], num_u, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(gv[..., i], num_v, rtol=1e-6, atol=1e-8)


def test_evaluator_matches_brute_force(tree):
    rng = np.random.default_rng(1)
    emb = P.project(rng.normal(size=(tree.n_nodes, 3)) * 0.5)
    ranks, aps = [], []
    anc = tree.ancestors()
    for u in range(tree.n_nodes):
        if not len(anc[u]):
            continue
        d = P.dist_arcosh(emb[u], emb)
        d[u] = np.inf
        pos = set(anc[u].tolist())
        order = np.argsort(d, kind="stable")
        hits, prec = 0, []
        for r, node in enumerate(order, start=1):
            if node in pos:
                hits += 1
                prec.append(hits / r)
                ranks.append(1 + sum(1 for o in order[: r - 1] if o not in pos))
        aps.append(np.mean(prec))
    rec = reconstruction(tree, emb, chunk=7)
    assert rec.mean_rank == pytest.approx(np.mean(ranks), rel=1e-12)
    assert rec.map == pytest.approx(np.mean(aps), rel=1e-12)
    # a perfect embedding: every node's ancestors are its nearest nodes
    ideal = np.zeros((4, 2))
    ideal[1:, 0] = [0.3, 0.6, 0.9]
    chain = transitive_closure([("b", "a"), ("c", "b"), ("d", "c")], names=["a", "b", "c", "d"])
    perfect = reconstruction(chain, ideal)
    assert (perfect.mean_rank, perfect.map) == (1.0, 1.0)


def test_training_reconstructs_the_tree(tree, trained):
    rec = reconstruction(tree, trained.embeddings)
    assert rec.map > 0.9 and rec.mean_rank < 1.5, rec
    assert trained.losses[-1] < trained.losses[0]
    norms = np.linalg.norm(trained.embeddings, axis=1)
    assert np.all(norms < 1.0)
    depth = np.array([n.count(".") for n in tree.names])
    # general concepts sit nearer the origin: mean norm grows with depth
    means = [norms[depth == k].mean() for k in range(4)]
    assert means == sorted(means), means
    euclid = train(tree, TrainConfig(dim=5, epochs=20, manifold="euclidean", batch_size=16))
    assert np.all(np.isfinite(euclid.embeddings))
    assert reconstruction(tree, euclid.embeddings, "euclidean").map > 0.3


def test_training_rejects_bad_settings_and_divergence(tree):
    with pytest.raises(InvalidInputError):
        TrainConfig(manifold="sphere")
    with pytest.raises(InvalidInputError):
        TrainConfig(dim=0)
    with pytest.raises(InvalidInputError, match="diverged|NaN"), np.errstate(all="ignore"):
        train(tree, TrainConfig(dim=3, epochs=3, manifold="euclidean", lr=1e300, burn_in=0))
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        reconstruction(tree, np.full((tree.n_nodes, 2), np.nan))


def test_artifact_embedder_and_factory(artifact, tree, trained):
    emb = Tessera(artifact)
    assert isinstance(emb, HyperbolicEmbedder)
    assert emb.dimension == 5 and len(emb) == tree.n_nodes and "root.2.1" in emb
    np.testing.assert_array_equal(emb.encode(list(tree.names)), trained.embeddings)
    assert emb.encode("root").shape == (5,)
    # distance: Poincaré distance of the stored vectors, symmetric
    d = emb.distance("root.0.0", "root.1.2")
    assert d == pytest.approx(float(P.dist_arcosh(emb.encode("root.0.0"), emb.encode("root.1.2"))), rel=1e-12)
    assert emb.distance("root.1.2", "root.0.0") == pytest.approx(d, rel=1e-12)
    # nearest neighbours through the Lorentz inner product == brute-force hyperbolic ranking
    for name in ("root", "root.2", "root.1.0.2"):
        got = emb.nearest(name, k=6)
        dists = P.pairwise_dist(emb.encode([name]), emb.table)[0]
        dists[emb.ids(name)[0]] = np.inf
        want = np.argsort(dists, kind="stable")[:6]
        assert [n for n, _ in got] == [tree.names[i] for i in want]
        np.testing.assert_allclose([x for _, x in got], dists[want], rtol=1e-9)
    index, query = emb.index_vectors(), emb.query_vectors("root.2")
    assert (
        np.argsort(-(index @ query[0]))[1]
        == np.argsort(P.pairwise_dist(emb.encode(["root.2"]), emb.table)[0])[1]
    )
    # is-a score (α = 1000: the norm term dominates): a true parent outranks the reversed relation
    # and a more specific non-ancestor; it is the paper's formula, checked by value
    assert emb.is_a_score("root.1.0", "root.1") > emb.is_a_score("root.1", "root.1.0")
    assert emb.is_a_score("root.1.0", "root.1") > emb.is_a_score("root.1.0", "root.2.0.1")
    c, p = emb.encode("root.1.0"), emb.encode("root.1")
    want = -(1 + 1000 * (np.linalg.norm(p) - np.linalg.norm(c))) * P.dist_arcosh(c, p)
    assert emb.is_a_score("root.1.0", "root.1") == pytest.approx(want, rel=1e-12)
    rec = reconstruction(emb.hierarchy, emb.table)
    assert rec.map == pytest.approx(emb.manifest.config["hyperbolic"]["evaluation"]["map"])


def test_embedder_bad_input_and_tampering(artifact, tmp_path):
    emb = HyperbolicEmbedder(artifact)
    with pytest.raises(UnknownNodeError, match="not in this embedding"):
        emb.encode("Root")
    with pytest.raises(InvalidInputError, match="outside the Poincaré ball"):
        emb.distance(np.ones(5), emb.encode("root"))
    with pytest.raises(InvalidInputError, match="dimension"):
        emb.nearest(np.zeros(3))
    with pytest.raises(InvalidInputError):
        emb.nearest("root", k=0)
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in artifact.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    table = np.load(copy / "embeddings.npy")
    table[0, 0] += 1e-3
    np.save(copy / "embeddings.npy", table)
    with pytest.raises(ChecksumError, match="embeddings.npy"):
        HyperbolicEmbedder(copy, verify="always")
    with pytest.raises(InvalidInputError, match="inside the ball"):
        write_artifact(tmp_path / "x", transitive_closure(tree_pairs(2, 1)), np.full((3, 2), 0.9))


def test_cli_train_query_evaluate(tmp_path):
    edges = tmp_path / "edges.tsv"
    edges.write_text("".join(f"{c}\t{p}\n" for c, p in tree_pairs(2, 3)))
    out = tmp_path / "art"
    runner = CliRunner()
    args = [
        "hyperbolic",
        "train",
        str(edges),
        "--out",
        str(out),
        "--dim",
        "4",
        "--epochs",
        "30",
        "--batch-size",
        "8",
        "--lr-final",
        "0.1",
    ]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["map"] > 0.8
    manifest = json.loads((out / "tessera.json").read_text())
    assert manifest["config"]["hyperbolic"]["training"]["config"]["lr_final"] == 0.1

    res = runner.invoke(main, ["hyperbolic", "query", str(out), "root.1.0", "--k", "3", "--parent", "root.1"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout.strip().splitlines()[0])
    assert len(row["nearest"]) == 3 and row["parent"] == "root.1" and row["distance"] > 0
    res = runner.invoke(main, ["hyperbolic", "evaluate", str(out)])
    assert res.exit_code == 0 and json.loads(res.stdout)["map"] == pytest.approx(summary["map"])
    res = runner.invoke(main, ["hyperbolic", "query", str(out), "missing"])
    assert res.exit_code != 0 and "not in this embedding" in res.output
    cyclic = tmp_path / "cyclic.tsv"
    cyclic.write_text("a\tb\nb\ta\n")
    res = runner.invoke(main, ["hyperbolic", "train", str(cyclic), "--out", str(tmp_path / "c")])
    assert res.exit_code != 0 and "cycle" in res.output
