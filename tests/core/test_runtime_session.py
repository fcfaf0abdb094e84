"""Execution-provider choice: auto, explicit devices, missing/dropped providers, threads."""

from __future__ import annotations

import pytest

from tessera_onnx import session as session_module
from tessera_onnx.errors import ArtifactError, InvalidInputError, ProviderUnavailableError, ProviderWarning
from tessera_onnx.session import create_session, resolve_device

ort = pytest.importorskip("onnxruntime")


def test_resolve_device_auto_prefers_cuda_then_coreml_then_cpu():
    cpu = ["CPUExecutionProvider"]
    assert resolve_device("auto", cpu) == ("cpu", cpu)
    assert resolve_device(None, ["CoreMLExecutionProvider", *cpu])[0] == "coreml"
    kind, providers = resolve_device("auto", ["CUDAExecutionProvider", "CoreMLExecutionProvider", *cpu])
    assert kind == "cuda" and providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_device("cuda:1", cpu)[1][0] == ("CUDAExecutionProvider", {"device_id": 1})
    assert resolve_device(" CPU ", cpu)[0] == "cpu"


@pytest.mark.parametrize("device", ["tpu", "cpu:0", "cuda:x", "coreml:1", ""])
def test_unknown_device_strings(device):
    if device == "":
        assert resolve_device(device, ["CPUExecutionProvider"])[0] == "cpu"  # empty = auto
        return
    with pytest.raises(ProviderUnavailableError, match="unknown device"):
        resolve_device(device, ["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def model_path(tiny_bert_dense_artifact):
    return tiny_bert_dense_artifact / "model.onnx"


def test_cpu_session_and_threads(model_path):
    sess, provider = create_session(model_path, "cpu", threads=1)
    assert provider == "CPUExecutionProvider"
    assert {i.name for i in sess.get_inputs()} >= {"input_ids", "attention_mask"}
    with pytest.raises(ValueError):
        create_session(model_path, "cpu", threads=-2)


def test_intra_op_threads_sleep_by_default_and_spin_during_calls_when_asked(model_path):
    """Default: threads never spin; spin="call" spins during a run and stops when it returns
    (force_spinning_stop); spin=True is onnxruntime's own default."""
    key, stop = "session.intra_op.allow_spinning", "session.force_spinning_stop"
    sess, _ = create_session(model_path, "cpu", threads=2)
    assert sess.get_session_options().get_session_config_entry(key) == "0"
    sess, _ = create_session(model_path, "cpu", threads=2, spin="call")
    options = sess.get_session_options()
    assert options.get_session_config_entry(key) == "1" and options.get_session_config_entry(stop) == "1"
    sess, _ = create_session(model_path, "cpu", threads=2, spin=True)
    with pytest.raises(Exception, match=key):  # entry absent: onnxruntime's default, spinning
        sess.get_session_options().get_session_config_entry(key)
    with pytest.raises(InvalidInputError, match="spin must be"):
        create_session(model_path, "cpu", spin="sometimes")


def test_missing_cuda_warns_with_install_hint(model_path):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here")
    with pytest.warns(ProviderWarning, match="pip install onnxruntime-gpu") as record:
        _, provider = create_session(model_path, "cuda")
    assert provider == "CPUExecutionProvider"
    assert "never keep both" in str(record[0].message)
    with pytest.raises(ProviderUnavailableError, match="onnxruntime-gpu"):
        create_session(model_path, "cuda:0", fallback=False)


def test_silently_dropped_provider_warns(model_path, monkeypatch):
    """onnxruntime-gpu without CUDA libraries drops CUDA at session creation: we must say so."""
    real = ort.InferenceSession

    class Dropping(real):  # type: ignore[misc, valid-type]
        def __init__(self, path, sess_options=None, providers=None):
            super().__init__(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(ort, "InferenceSession", Dropping)
    with pytest.warns(ProviderWarning, match="dropped CUDAExecutionProvider"):
        _, provider = create_session(model_path, "auto")
    assert provider == "CPUExecutionProvider"
    with pytest.raises(ProviderUnavailableError):
        create_session(model_path, "cuda", fallback=False)


def test_explicit_providers_list_and_bad_model(model_path, tmp_path):
    _, provider = create_session(model_path, providers=["CPUExecutionProvider"])
    assert provider == "CPUExecutionProvider"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match="cannot load"):
        create_session(broken, "cpu")


def test_embedder_reports_device(tiny_bert_dense_artifact):
    from tessera_onnx import Tessera

    model = Tessera(tiny_bert_dense_artifact, device="cpu", threads=1)
    assert model.device == "cpu" and model.provider == "CPUExecutionProvider"
    assert session_module.short_provider_name("CUDAExecutionProvider") == "cuda"
