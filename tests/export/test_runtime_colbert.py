"""ColBERT runtime vs a torch reference of the Stanford / PyLate rules (docs/reference-semantics.md §1)."""

from __future__ import annotations

import json
import string
import warnings
from pathlib import Path

import numpy as np
import pytest

from tessera_onnx import Tessera, TesseraMultiVector
from tessera_onnx.errors import TruncationWarning
from tessera_onnx.text.multi_vector import MultiVectorBatch

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

QUERIES = [
    "what is a path?",
    "",
    "Return the number of items, please!",
    "a very long query that certainly goes past the query length limit of twelve tokens, doesn't it",
]
DOCS = [
    "Return a new path pointing to the current working directory.",
    "Hello, world!!! ... (punctuation) [brackets] {braces}",
    "",
    "x",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 8),  # past document_length
]


class TorchColBERT:
    """A plain-torch ColBERT written from the reference rules, independent of the exporter."""

    def __init__(self, ckpt: Path, layout: str) -> None:
        from safetensors.torch import load_file

        self.tok = transformers.AutoTokenizer.from_pretrained(str(ckpt))
        self.mask_id = self.tok.mask_token_id
        self.pad_id = self.tok.pad_token_id
        if layout == "pylate":
            self.bert = transformers.AutoModel.from_pretrained(str(ckpt)).eval()
            dense = load_file(str(ckpt / "1_Dense" / "model.safetensors"))
            self.weight, self.bias = dense["linear.weight"], dense.get("linear.bias")
            cfg = json.loads((ckpt / "config_sentence_transformers.json").read_text())
            self.q_marker = self.tok.convert_tokens_to_ids(cfg["query_prefix"])
            self.d_marker = self.tok.convert_tokens_to_ids(cfg["document_prefix"])
            self.q_len, self.d_len = cfg["query_length"], cfg["document_length"]
            self.skiplist = {self.tok.convert_tokens_to_ids(w) for w in cfg["skiplist_words"]}
        else:
            config = transformers.BertConfig.from_pretrained(str(ckpt))
            self.bert = transformers.BertModel(config, add_pooling_layer=False).eval()
            state = load_file(str(ckpt / "model.safetensors"))
            self.bert.load_state_dict(
                {k[5:]: v for k, v in state.items() if k.startswith("bert.")}, strict=False
            )
            self.weight, self.bias = state["linear.weight"], None
            meta = json.loads((ckpt / "artifact.metadata").read_text())
            self.q_marker = self.tok.convert_tokens_to_ids(meta["query_token_id"])
            self.d_marker = self.tok.convert_tokens_to_ids(meta["doc_token_id"])
            self.q_len, self.d_len = meta["query_maxlen"], meta["doc_maxlen"]
            self.skiplist = {self.tok.encode(p, add_special_tokens=False)[0] for p in string.punctuation}
        assert self.mask_id not in self.skiplist

    @torch.no_grad()
    def encode(self, texts: list[str], is_query: bool) -> list[np.ndarray]:
        length = self.q_len if is_query else self.d_len
        marker = self.q_marker if is_query else self.d_marker
        seqs = []
        for text in texts:
            ids = self.tok(text.strip(), truncation=True, max_length=length - 1)["input_ids"]
            seqs.append(ids[:1] + [marker] + ids[1:])
        width = length if is_query else max(len(s) for s in seqs)
        fill = self.mask_id if is_query else self.pad_id
        ids = torch.full((len(seqs), width), fill, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        emb = hidden @ self.weight.T + (self.bias if self.bias is not None else 0)
        out = []
        for i in range(len(seqs)):
            if is_query:  # query expansion: every row kept, [MASK] rows included
                keep = torch.ones(width, dtype=torch.bool)
            else:
                keep = mask[i].bool() & torch.tensor([int(t) not in self.skiplist for t in ids[i]])
            out.append(torch.nn.functional.normalize(emb[i][keep], dim=-1).numpy())
        return out

    @staticmethod
    def score(q: np.ndarray, d: np.ndarray) -> float:
        sims = torch.from_numpy(q) @ torch.from_numpy(d).T
        return float(sims.max(dim=1).values.sum()) if d.shape[0] else 0.0


@pytest.fixture(scope="module", params=["pylate", "stanford"])
def pair(request):
    layout = request.param
    artifact = request.getfixturevalue(f"tiny_colbert_{layout}_artifact")
    ckpt = request.getfixturevalue(f"tiny_colbert_{layout}_dir")
    return Tessera(artifact), TorchColBERT(ckpt, layout)


def test_embeddings_and_scores_match_torch_reference(pair):
    model, ref = pair
    assert isinstance(model, TesseraMultiVector)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        q = model.encode_queries(QUERIES)
        d = model.encode_documents(DOCS)
    rq, rd = ref.encode(QUERIES, True), ref.encode(DOCS, False)
    for ours, theirs in zip(q + d, rq + rd, strict=True):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert all(x.shape[0] == ref.q_len for x in q)  # [MASK] expansion rows kept
    scores = model.similarity(q, d)
    expected = np.array([[ref.score(a, b) for b in rd] for a in rq])
    np.testing.assert_allclose(scores, expected, atol=1e-4)


def test_document_rows_drop_punctuation_keep_specials(pair):
    model, ref = pair
    doc = "Hello, world!"
    ids = ref.tok(doc)["input_ids"]
    kept = [i for i in ids if i not in ref.skiplist]
    assert model.encode_documents(doc).shape[0] == len(kept) + 1  # + the [D] marker
    # the skiplist never applies to queries
    assert model.encode_queries(doc).shape[0] == ref.q_len


def test_batch_independence_and_padded_form(pair):
    model, _ = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        many = model.encode_documents(DOCS, batch_size=8)
        ones = [model.encode_documents([t], batch_size=1)[0] for t in DOCS]
        padded = model.encode_documents(DOCS, padded=True)
    for a, b in zip(many, ones, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert isinstance(padded, MultiVectorBatch) and len(padded) == len(DOCS)
    for a, b in zip(padded.to_list(), many, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    q = model.encode_queries(QUERIES[:2])
    np.testing.assert_allclose(model.similarity(q, padded), model.similarity(q, many), atol=1e-5)
    np.testing.assert_allclose(model.score(q[0], many), model.similarity(q[:1], many)[0], atol=1e-6)


def test_empty_inputs_and_info(pair):
    model, _ = pair
    assert model.encode_documents([]) == []
    assert model.similarity([], model.encode_documents(["x"])).shape == (0, 1)
    info = model.info()
    assert info["paradigm"] == "multi_vector" and info["dim"] == model.dimension == 16
