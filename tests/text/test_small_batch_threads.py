"""``small_batch_threads``: one short text runs on a second session with fewer intra-op threads.

Vectors from the small-batch session equal the main session's within 1e-6 (max abs diff) for
dense, sparse and multi-vector models; the small session is used exactly for batches of one text
of at most ``small_batch_tokens`` tokens (counted by wrapping its ``run``), and bad values are
refused with the error contract's InvalidInputError.
"""

from __future__ import annotations

import numpy as np
import pytest

from tessera_onnx import Tessera
from tessera_onnx.errors import InvalidInputError

TOL = 1e-6
SHORT = "how do plants make food"
LONG = "photosynthesis turns light water and carbon dioxide into sugar"


class _Counting:
    """Forwards to a real session and counts its ``run`` calls."""

    def __init__(self, session):
        self.session, self.calls = session, 0

    def run(self, *args, **kwargs):
        self.calls += 1
        return self.session.run(*args, **kwargs)


def _pair(path, **kw):
    base = Tessera(path, threads=2, **kw)
    small = Tessera(path, threads=2, small_batch_threads=1, small_batch_tokens=16, **kw)
    assert small._small_session is not None and base._small_session is None
    small._small_session = _Counting(small._small_session)
    return base, small


def test_dense_same_vectors_and_only_short_single_texts_take_the_small_session(tiny_bert_dense_artifact):
    base, small = _pair(tiny_bert_dense_artifact)
    counter = small._small_session
    assert small.tokenizer.encode([SHORT]).lengths[0] <= 16 < small.tokenizer.encode([LONG]).lengths[0]

    got = small.encode(SHORT)
    assert counter.calls == 1
    assert np.abs(got - base.encode(SHORT)).max() <= TOL

    small.encode([LONG])  # one text, but longer than small_batch_tokens
    small.encode([SHORT, "another short one"])  # two texts in one batch
    assert counter.calls == 1
    both = small.encode([SHORT, LONG], batch_size=1)  # batch_size 1 -> each alone; only SHORT is short
    assert counter.calls == 2
    assert np.abs(both - base.encode([SHORT, LONG])).max() <= TOL
    info = small.info()
    assert info["small_batch_threads"] == 1 and info["small_batch_tokens"] == 16
    assert base.info()["small_batch_threads"] is None


@pytest.mark.parametrize("fixture", ["tiny_splade_artifact", "tiny_colbert_pylate_artifact"])
def test_sparse_and_multi_vector_same_output(fixture, request):
    base, small = _pair(request.getfixturevalue(fixture))
    a, b = base.encode([SHORT]), small.encode([SHORT])
    assert small._small_session.calls == 1
    if hasattr(a[0], "indices"):  # sparse
        assert np.array_equal(a[0].indices, b[0].indices)
        assert np.abs(np.asarray(a[0].values) - np.asarray(b[0].values)).max() <= TOL
    else:
        assert np.abs(np.asarray(a[0]) - np.asarray(b[0])).max() <= TOL


def test_same_thread_count_makes_no_second_session(tiny_bert_dense_artifact):
    model = Tessera(tiny_bert_dense_artifact, threads=1, small_batch_threads=1)
    assert model._small_session is None and model.info()["small_batch_threads"] is None


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"small_batch_threads": 0}, "small_batch_threads"),
        ({"small_batch_threads": True}, "small_batch_threads"),
        ({"small_batch_threads": 1, "small_batch_tokens": -3}, "small_batch_tokens"),
    ],
)
def test_bad_values_are_refused(tiny_bert_dense_artifact, kw, says):
    with pytest.raises(InvalidInputError, match=says):
        Tessera(tiny_bert_dense_artifact, **kw)
