"""Exported graphs vs torch, checked independently of the exporter's own wrappers and parity code."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tessera_export.layouts import colbert_document_batch, colbert_query_batch, encode_batch, load_tokenizer  # noqa: E402

from tessera_onnx.artifact import read_manifest  # noqa: E402

TEXTS = [
    "Parity needs inputs the exporter never saw.",
    "short",
    "A considerably longer sentence, with punctuation; numbers like 3.14 and 2,718; and a final clause!",
]
TOL = 1e-4


def _session(artifact):
    return ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])


def _run(artifact, feeds):
    m = read_manifest(artifact)
    return _session(artifact).run([m.outputs[0]], {n: feeds[n] for n in m.inputs})[0]


def _torch_kwargs(artifact, feeds):
    m = read_manifest(artifact)
    return {n: torch.from_numpy(feeds[n]) for n in m.inputs}


def _plain_feeds(artifact, texts=TEXTS, max_length=None):
    m = read_manifest(artifact)
    text = m.config["text"]
    tok = load_tokenizer(artifact / "tokenizer.json")
    return encode_batch(tok, texts, max_length=max_length or text["max_length"], pad_id=text["pad_token_id"])


@pytest.mark.parametrize("arch", ["bert", "modernbert", "xlmr"])
def test_tiny_dense_matches_automodel(request, arch):
    artifact = request.getfixturevalue(f"tiny_{arch}_dense_artifact")
    src = request.getfixturevalue(f"tiny_{arch}_dir")
    model = transformers.AutoModel.from_pretrained(src).eval()  # default attention implementation
    for batch in (TEXTS[:1], TEXTS):
        feeds = _plain_feeds(artifact, batch)
        with torch.no_grad():
            ref = model(**_torch_kwargs(artifact, feeds)).last_hidden_state.numpy()
        got = _run(artifact, feeds)
        valid = feeds["attention_mask"].astype(bool)
        assert np.abs(got - ref)[valid].max() <= TOL


def _dense_weights(path):
    from safetensors.torch import load_file

    t = load_file(str(path / "model.safetensors"))
    return t["linear.weight"].numpy(), t.get("linear.bias", torch.zeros(1)).numpy()


@pytest.mark.parametrize("fixture", ["tiny_colbert_pylate", "tiny_modernbert_colbert", "tiny_xlmr_colbert"])
def test_pylate_colbert_projection_and_layouts(request, fixture):
    artifact = request.getfixturevalue(f"{fixture}_artifact")
    src = request.getfixturevalue(f"{fixture}_dir")
    m = read_manifest(artifact)
    mv = m.config["multi_vector"]
    tok_json = json.loads((src / "tokenizer.json").read_text())
    added = {t["content"]: t["id"] for t in tok_json["added_tokens"]}
    assert mv["query_marker_id"] == added["[Q] "] and mv["document_marker_id"] == added["[D] "]
    assert mv["projection"] == "pylate"
    w, b = _dense_weights(src / "1_Dense")
    model = transformers.AutoModel.from_pretrained(src).eval()
    tok = load_tokenizer(artifact / "tokenizer.json")
    pad = m.config["text"]["pad_token_id"]
    q = colbert_query_batch(
        tok,
        TEXTS,
        query_length=mv["query_length"],
        marker_id=mv["query_marker_id"],
        mask_token_id=mv["mask_token_id"],
        pad_id=pad,
    )
    d = colbert_document_batch(
        tok, TEXTS, document_length=mv["document_length"], marker_id=mv["document_marker_id"], pad_id=pad
    )
    assert q["input_ids"].shape[1] == mv["query_length"]
    assert (q["input_ids"][:, 1] == mv["query_marker_id"]).all() and (
        d["input_ids"][:, 1] == mv["document_marker_id"]
    ).all()
    for feeds in (q, d):
        with torch.no_grad():
            h = model(**_torch_kwargs(artifact, feeds)).last_hidden_state.numpy()
        ref = h @ w.T + b
        got = _run(artifact, feeds)
        assert got.shape == ref.shape and got.shape[-1] == m.dim == w.shape[0]
        assert np.abs(got - ref).max() <= TOL  # every row, incl. [MASK] expansion rows


def test_stanford_colbert_projection(tiny_colbert_stanford_artifact, tiny_colbert_stanford_dir):
    from safetensors.torch import load_file

    m = read_manifest(tiny_colbert_stanford_artifact)
    mv = m.config["multi_vector"]
    assert (mv["query_marker_id"], mv["document_marker_id"]) == (1, 2)  # [unused0]/[unused1]
    assert mv["projection"] == "stanford" and m.dim == 16
    tensors = load_file(str(tiny_colbert_stanford_dir / "model.safetensors"))
    w = tensors["linear.weight"].numpy()
    model = transformers.BertModel(transformers.BertConfig.from_pretrained(tiny_colbert_stanford_dir)).eval()
    model.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("bert.")}, strict=False)
    tok = load_tokenizer(tiny_colbert_stanford_artifact / "tokenizer.json")
    d = colbert_document_batch(tok, TEXTS, document_length=mv["document_length"], marker_id=2, pad_id=0)
    with torch.no_grad():
        ref = model(**_torch_kwargs(tiny_colbert_stanford_artifact, d)).last_hidden_state.numpy() @ w.T
    assert np.abs(_run(tiny_colbert_stanford_artifact, d) - ref).max() <= TOL
    # skiplist: first id of each punctuation char, which is its own wordpiece in this vocab
    assert tok.encode(".", add_special_tokens=False).ids[0] in mv["skiplist_ids"]


def _splade_ref(model, kwargs):
    with torch.no_grad():
        logits = model(**kwargs).logits
    w = torch.log1p(torch.relu(logits)) * kwargs["attention_mask"].unsqueeze(-1)
    return logits.numpy(), w.max(1).values.numpy()


@pytest.mark.parametrize(
    "fixture,src",
    [
        ("tiny_splade", "tiny_bert_mlm_dir"),
        ("tiny_modernbert_splade", "tiny_modernbert_mlm_dir"),
        ("tiny_xlmr_splade", "tiny_xlmr_mlm_dir"),
    ],
)
def test_tiny_splade_pooled_in_graph(request, fixture, src):
    artifact = request.getfixturevalue(f"{fixture}_artifact")
    model = transformers.AutoModelForMaskedLM.from_pretrained(request.getfixturevalue(src)).eval()
    feeds = _plain_feeds(artifact)
    _, ref = _splade_ref(model, _torch_kwargs(artifact, feeds))
    got = _run(artifact, feeds)
    assert got.shape == (len(TEXTS), read_manifest(artifact).dim)
    assert np.abs(got - ref).max() <= TOL


def test_tiny_splade_logits_variant(tiny_splade_logits_artifact, tiny_bert_mlm_dir):
    model = transformers.AutoModelForMaskedLM.from_pretrained(tiny_bert_mlm_dir).eval()
    feeds = _plain_feeds(tiny_splade_logits_artifact)
    logits, _ = _splade_ref(model, _torch_kwargs(tiny_splade_logits_artifact, feeds))
    assert np.abs(_run(tiny_splade_logits_artifact, feeds) - logits).max() <= TOL


def test_real_splade_matches_torch(splade_artifact, splade_logits_artifact, splade_dir):
    model = transformers.AutoModelForMaskedLM.from_pretrained(splade_dir).eval()
    feeds = _plain_feeds(splade_artifact)
    logits, ref = _splade_ref(model, _torch_kwargs(splade_artifact, feeds))
    pooled = _run(splade_artifact, feeds)
    assert np.abs(pooled - ref).max() <= TOL
    assert (pooled > 0).sum(1).min() > 0  # trained model: non-empty sparse vectors
    raw = _run(splade_logits_artifact, feeds)
    assert np.abs(raw - logits).max() <= 1e-3 * max(1.0, np.abs(logits).max())
    m = read_manifest(splade_artifact)
    assert m.dim == 30522 and m.config["sparse"]["pooled_in_graph"] is True


def test_real_minilm_matches_sentence_transformers(minilm_artifact, minilm_dir):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(minilm_dir), device="cpu")
    texts = TEXTS + ["  leading and trailing spaces  "]
    ref = model.encode(texts, normalize_embeddings=True, batch_size=8)
    m = read_manifest(minilm_artifact)
    assert m.config["text"]["max_length"] == 256 and m.config["dense"]["pooling"] == "mean"
    feeds = _plain_feeds(minilm_artifact, [t.strip() for t in texts])
    h = _run(minilm_artifact, feeds)
    mask = feeds["attention_mask"][..., None].astype(np.float32)
    emb = (h * mask).sum(1) / mask.sum(1)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert np.abs(emb - ref).max() <= 1e-5
    assert (emb * ref).sum(1).min() >= 0.99999
