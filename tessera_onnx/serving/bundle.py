"""Build a serverless deployment bundle: runtime dependencies + ``tessera_onnx`` + one artifact.

``tessera bundle ARTIFACT --out bundle [--zip function.zip]`` (or :func:`build_bundle`) makes the
directory a function platform unpacks (handler
``tessera_onnx.serving.lambda_handler.handler``, the artifact under ``model/``), then trims what
the handler never needs:

- ``__pycache__`` / ``*.pyc`` (Python compiles into ``/tmp`` or memory at import instead),
  test suites (``tests/`` directories), C headers (``include/``) and type stubs (``*.pyi``);
- packages pulled in by dependencies but never imported by the handler (:data:`NEVER_IMPORTED`:
  huggingface_hub and hf_xet via tokenizers, PyYAML, console scripts) and onnxruntime's offline
  tools (transformer optimizer, quantization, converters) and C-API library (the Python module
  is linked on its own and does not load it);
- the main graph onnxruntime does not load: when the artifact has an onnxruntime variant of its
  ``model_file`` (the fused transformer graph) that onnxruntime on CPU selects, the bundle ships
  only that variant, named as ``model_file`` in the bundle's manifest (the portable graph, and
  ``TESSERA_GRAPH_VARIANT=portable``, are then not available there);
- symbol tables of the shared libraries that carry one (``strip --strip-unneeded``, only where a
  ``.symtab`` or ``.debug_*`` section exists; skipped when ``strip`` is not installed). Libraries
  vendored by auditwheel (``numpy.libs/`` and the like) are left alone: ``strip`` rewrites their
  patchelf'ed program headers into a file the loader refuses ("not page-aligned").

The unzipped size is what Lambda limits (262,144,000 bytes); :func:`bundle_bytes` counts it.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError, MissingDependencyError

__all__ = ["LAMBDA_UNZIPPED_LIMIT", "BundleReport", "build_bundle", "bundle_bytes", "RUNTIME_DISTRIBUTIONS"]

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: AWS Lambda's limit on a function and its layers, unzipped
RUNTIME_DISTRIBUTIONS = ("numpy", "onnxruntime", "tokenizers", "click")
NEVER_IMPORTED = (
    "hf_xet",
    "huggingface_hub",
    "yaml",
    "_yaml",
    "bin",
    "onnxruntime/tools",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
)
_PACKAGE = Path(__file__).resolve().parent.parent  # tessera_onnx/


@dataclass
class BundleReport:
    """What :func:`build_bundle` made: sizes in bytes, what it removed and stripped."""

    path: Path
    total_bytes: int
    model_bytes: int
    removed: list[str] = field(default_factory=list)
    stripped: list[str] = field(default_factory=list)
    saved_bytes: int = 0
    zip_path: Path | None = None

    @property
    def dependencies_bytes(self) -> int:
        """Code and dependencies (everything but ``model/``)."""
        return self.total_bytes - self.model_bytes

    @property
    def fits_lambda(self) -> bool:
        """Whether the unzipped bundle is within :data:`LAMBDA_UNZIPPED_LIMIT`."""
        return self.total_bytes <= LAMBDA_UNZIPPED_LIMIT

    def summary(self) -> str:
        """One line: total, parts, limit."""
        mb = 1e6
        return (
            f"{self.path}: {self.total_bytes:,} bytes unzipped ({self.total_bytes / mb:.1f} MB) = "
            f"{self.dependencies_bytes / mb:.1f} MB code and dependencies + {self.model_bytes / mb:.1f} MB model; "
            f"Lambda's limit is {LAMBDA_UNZIPPED_LIMIT:,} bytes: {'fits' if self.fits_lambda else 'DOES NOT FIT'}"
        )


def bundle_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes of the regular files under ``path`` (symbolic links not followed): the unzipped size."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def _project_root() -> Path | None:
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() else None


def _install_with_pip(out: Path, pip_args: list[str]) -> None:
    from .._version import __version__

    target = str(_project_root() or f"tessera-onnx=={__version__}")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--target",
        str(out),
        "--no-compile",
        *pip_args,
        target,
    ]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise InvalidInputError(f"pip could not install the bundle's dependencies:\n{result.stderr[-2000:]}")


def _copy_from_environment(out: Path) -> None:
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError as exc:
            raise MissingDependencyError(
                f"{name} is not installed here; install it or build with pip"
            ) from exc
        for f in dist.files or []:
            src = Path(dist.locate_file(f))
            if src.is_file() and "__pycache__" not in f.parts and ".." not in f.parts:
                dst = out / f
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    shutil.copytree(_PACKAGE, out / "tessera_onnx", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _trim(out: Path) -> tuple[list[str], int]:
    """Remove what the handler never needs (module docstring); returns (what, bytes saved)."""
    removed: list[str] = []
    before = bundle_bytes(out)
    for name in NEVER_IMPORTED:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
            removed.append(name + "/")
    for lib in (out / "onnxruntime" / "capi").glob("libonnxruntime.so*"):
        lib.unlink()
        removed.append(str(lib.relative_to(out)))
    for root, dirs, files in os.walk(out, topdown=True):
        rel = Path(root).relative_to(out)
        if rel.parts[:1] == ("model",):
            dirs[:] = []
            continue
        for d in list(dirs):
            if d in ("__pycache__", "tests", "include"):
                shutil.rmtree(Path(root) / d)
                dirs.remove(d)
        for f in files:
            if f.endswith((".pyc", ".pyi")):
                (Path(root) / f).unlink()
    removed.append("__pycache__/, *.pyc, tests/, include/, *.pyi")
    return removed, before - bundle_bytes(out)


def _has_symbols(path: Path) -> bool:
    """Whether an ELF file carries a symbol table or debug sections (what stripping removes)."""
    try:
        out = subprocess.run(
            ["readelf", "-S", "--wide", str(path)], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return " .symtab " in out.stdout or " .debug_" in out.stdout


def _strip(out: Path) -> list[str]:
    if shutil.which("strip") is None or shutil.which("readelf") is None:
        return []
    stripped = []
    for lib in sorted(out.rglob("*.so*")):
        if lib.parent.name.endswith(".libs"):
            continue  # vendored by auditwheel, whose patchelf layout strip corrupts (not page-aligned)
        if lib.is_file() and not lib.is_symlink() and _has_symbols(lib):
            if subprocess.run(["strip", "--strip-unneeded", str(lib)], capture_output=True).returncode == 0:
                stripped.append(str(lib.relative_to(out)))
    return stripped


def _runtime_version(out: Path) -> str | None:
    """The version of the onnxruntime installed in the bundle (None: none found)."""
    for dist in md.distributions(path=[str(out)]):
        if (dist.metadata["Name"] or "").lower() == "onnxruntime":
            return dist.version
    return None


def _copy_artifact(artifact: Path, dest: Path, runtime_version: str | None) -> list[str]:
    """Copy ``artifact`` to ``dest``; when onnxruntime on CPU loads a variant of the main graph
    (``model_file``), ship only that variant, as the bundle manifest's ``model_file``. Returns the
    files left out."""
    from ..artifact import read_manifest
    from ..backends.variants import select_variant

    raw = json.loads((artifact / "tessera.json").read_text(encoding="utf-8"))
    variants = dict(raw.get("variants") or {})
    graph = raw.get("model_file", "model.onnx")
    chosen = None
    if variants and runtime_version:
        chosen = select_variant(
            read_manifest(artifact),
            graph,
            runtime="onnxruntime",
            version=runtime_version,
            provider="CPUExecutionProvider",
            choice="auto",
        )
    if chosen is None:
        shutil.copytree(artifact, dest)
        return []
    variant_graph = variants[chosen]["graphs"][graph]
    drop = {graph, graph + ".data"} & set(raw.get("files", {}))
    shutil.copytree(
        artifact, dest, ignore=lambda d, names: [n for n in names if Path(d) == artifact and n in drop]
    )
    raw["files"] = {k: v for k, v in raw["files"].items() if k not in drop}
    raw["model_file"] = variant_graph  # an onnxruntime-only main graph: a manifest as before variants
    rest = {k: v for k, v in variants[chosen]["graphs"].items() if k != graph}
    if rest:
        variants[chosen] = {**variants[chosen], "graphs": rest}
    else:
        variants.pop(chosen)
    if variants:
        raw["variants"] = variants
    else:
        raw.pop("variants", None)
    (dest / "tessera.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    return sorted(drop)


def _zip(out: Path, zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(out.rglob("*")):
            if p.is_file() and not p.is_symlink():
                zf.write(p, p.relative_to(out))


def build_bundle(
    artifact: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    from_environment: bool = False,
    strip: bool = True,
    zip_path: str | os.PathLike[str] | None = None,
    pip_args: list[str] | None = None,
) -> BundleReport:
    """Build the bundle directory ``out`` (must not exist or be empty) for ``artifact``.

    ``from_environment``: copy the installed runtime distributions instead of ``pip install
    --target`` (offline; the bundle then matches this machine's OS, CPU and Python).
    ``pip_args``: extra pip options, e.g. ``["--platform", "manylinux2014_x86_64",
    "--python-version", "3.11", "--only-binary=:all:"]`` to build for another platform.
    ``strip``: strip symbol tables from shared libraries. ``zip_path``: also write the zip.
    """
    out = Path(out)
    artifact = Path(artifact)
    if not (artifact / "tessera.json").is_file():
        raise InvalidInputError(f"{artifact} is not an artifact directory (no tessera.json)")
    if out.exists() and any(out.iterdir()):
        raise InvalidInputError(f"{out} exists and is not empty: choose a new directory")
    out.mkdir(parents=True, exist_ok=True)
    if from_environment:
        _copy_from_environment(out)
    else:
        _install_with_pip(out, list(pip_args or []))
    removed, saved = _trim(out)
    stripped = _strip(out) if strip else []
    dropped = _copy_artifact(artifact, out / "model", _runtime_version(out))
    if dropped:
        removed.append("model/: " + ", ".join(dropped) + " (graphs onnxruntime does not load)")
    report = BundleReport(
        path=out,
        total_bytes=bundle_bytes(out),
        model_bytes=bundle_bytes(out / "model"),
        removed=removed,
        stripped=stripped,
        saved_bytes=saved,
    )
    if zip_path is not None:
        _zip(out, Path(zip_path))
        report.zip_path = Path(zip_path)
    return report
