"""The documentation runs: every code block of README.md and docs/**/*.md, and the site build.

Each fenced ``python`` block is executed in a fresh namespace, each ``bash`` block with
``bash -euo pipefail``, in a scratch directory that holds the files the docs use:

- ``artifacts/<name>``: tiny artifacts built by the fixtures of ``tests/conftest.py`` (random
  weights, same formats as real ones), only those a block names (see :data:`ARTIFACTS`);
- ``$TESSERA_HOME/all-minilm-l6-v2`` (so ``Tessera("all-minilm-l6-v2")`` works offline),
  ``my-taxonomy`` (a trained hyperbolic artifact) and the data files of :func:`_data_files`.

A block that cannot run here carries a visible marker on the line before its fence::

    <!-- docs-test: skip <why> -->          never run; the reason is reported as the skip reason
    <!-- docs-test: requires mod1 mod2 -->  run only when these modules import (else skipped)
    <!-- docs-test: slow -->                 runs only with ``-m slow`` (over ~30 s, e.g. starts Ray)

Several markers may stand on consecutive lines.

Blocks in other languages (``text``, ``json``, ``toml``) are not run; a fence without a language
fails :func:`test_every_block_names_its_language`, so nothing escapes by accident.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 400
RUNNABLE = {"python", "bash"}

# artifacts/<name> in a block -> the conftest fixture that builds it ("ttm" comes from ts_fixtures)
ARTIFACTS = {
    "all-minilm-l6-v2": "tiny_bert_dense_artifact",
    "colbert": "tiny_colbert_pylate_artifact",
    "splade": "tiny_splade_artifact",
    "siglip": "tiny_siglip_artifact",
    "colsmol": "colidefics3_artifact",
    "ttm": "ttm",
    "ms-marco-minilm-l-6-v2": "tiny_cross_encoder_artifact",
}

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(skip|requires|slow)\b\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str
    markers: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of ``path`` (indented fences inside list items included)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        markers: dict[str, str] = {}
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        while j >= 0 and (mm := _MARKER.match(lines[j])):
            markers[mm.group(1)] = mm.group(2)
            j -= 1
        body: list[str] = []
        k = i + 1
        while k < len(lines) and not re.match(rf"^{indent}```\s*$", lines[k]):
            body.append(lines[k][len(indent) :] if lines[k].startswith(indent) else lines[k])
            k += 1
        out.append(Block(path, i + 1, lang, "\n".join(body) + "\n", markers))
        i = k + 1
    return out


ALL_BLOCKS = [b for p in doc_files() for b in blocks(p)]
RUN_BLOCKS = [b for b in ALL_BLOCKS if b.lang in RUNNABLE]


# ----------------------------------------------------------------------------- the scratch directory

EDGES = """\
animal.n.01\tentity.n.01
mammal.n.01\tanimal.n.01
bird.n.01\tanimal.n.01
dog.n.01\tmammal.n.01
cat.n.01\tmammal.n.01
poodle.n.01\tdog.n.01
beagle.n.01\tdog.n.01
siamese.n.01\tcat.n.01
sparrow.n.01\tbird.n.01
"""


def _data_files(ws: Path) -> None:
    """The small inputs the examples read (texts, a CSV series, a taxonomy, images, a PDF)."""
    ws.joinpath("corpus.txt").write_text(
        "A cat sits on the mat.\nStocks fell sharply today.\nPhotosynthesis converts light.\n",
        encoding="utf-8",
    )
    ws.joinpath("texts.jsonl").write_text(
        '{"text": "How do plants make food?"}\n{"text": "The Eiffel Tower is in Paris."}\n', encoding="utf-8"
    )
    ws.joinpath("edges.tsv").write_text(EDGES, encoding="utf-8")
    (ws / "corpus").mkdir()
    ws.joinpath("corpus", "part-0.jsonl").write_text(
        "".join(
            f'{{"doc_id": "d{i}", "url": "https://example.org/{i}", "text": "passage {i}"}}\n'
            for i in range(5)
        ),
        encoding="utf-8",
    )
    import numpy as np

    t = np.arange(200)
    rows = ["date,load,temp"] + [
        f"2024-01-{1 + i // 24:02d} {i % 24:02d}:00,{10 + np.sin(i / 4):.4f},{5 + np.cos(i / 6):.4f}"
        for i in range(len(t))
    ]
    ws.joinpath("data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    if importlib.util.find_spec("PIL") is not None:
        from tiny_page_models import rendered_page, write_pdf

        rendered_page(320, 240, seed=1).save(ws / "cat.jpg")
        rendered_page(300, 400, seed=2).save(ws / "page.png")
        (ws / "photos").mkdir()
        for i in range(3):
            rendered_page(200 + 20 * i, 160, seed=i).save(ws / "photos" / f"p{i}.png")
        write_pdf(ws / "report.pdf", [(300, 400), (400, 300)])


@pytest.fixture(scope="session")
def taxonomy_artifact(tmp_path_factory) -> Path:
    """``my-taxonomy``: a hyperbolic artifact trained on :data:`EDGES` by the CLI (numpy only)."""
    from click.testing import CliRunner

    from tessera_onnx.cli import main

    d = tmp_path_factory.mktemp("taxonomy")
    (d / "edges.tsv").write_text(EDGES, encoding="utf-8")
    out = d / "my-taxonomy"
    args = ["hyperbolic", "train", str(d / "edges.tsv"), "--out", str(out), "--dim", "5", "--epochs", "30"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


def _artifact(request, name: str) -> Path:
    fixture = ARTIFACTS[name]
    if fixture == "ttm":
        import ts_fixtures

        return ts_fixtures.tiny_artifact("plain")
    return request.getfixturevalue(fixture)


@pytest.fixture
def workspace(request, tmp_path, monkeypatch, taxonomy_artifact) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    _data_files(ws)
    (ws / "artifacts").mkdir()
    home = ws / ".tessera-home"
    home.mkdir()
    shutil.copytree(taxonomy_artifact, ws / "my-taxonomy")
    monkeypatch.setenv("TESSERA_HOME", str(home))
    monkeypatch.setenv("TESSERA_OFFLINE", "1")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.chdir(ws)
    return ws


def _prepare(block: Block, request, ws: Path) -> None:
    names = set(re.findall(r"artifacts/([\w.-]+)", block.code))
    if re.search(r"""["']all-minilm-l6-v2["']""", block.code):
        names.add("all-minilm-l6-v2")
    for name in sorted(names & ARTIFACTS.keys()):
        src = _artifact(request, name)
        shutil.copytree(src, ws / "artifacts" / name)
        if name == "all-minilm-l6-v2":
            shutil.copytree(src, ws / ".tessera-home" / name)


# ----------------------------------------------------------------------------- the tests


def test_readme_is_short() -> None:
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, (
        f"README.md has {n} lines; move detail into docs/ (limit {README_MAX_LINES})"
    )


def test_readme_set_up_commands_exist() -> None:
    """The two set-up commands near the top of README.md, and the docs extra that test.sh installs."""
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:60])
    for script in ("scripts/quickstart.sh", "scripts/test.sh"):
        assert f"bash {script}" in head, f"README.md must show `bash {script}` near the top"
        assert (ROOT / script).is_file()
    assert "docs" in re.search(
        r'pip install -q -e "\.\[([^]]*)\]"', (ROOT / "scripts/test.sh").read_text()
    ).group(1)


def test_every_block_names_its_language() -> None:
    bare = [b.name for b in ALL_BLOCKS if not b.lang]
    assert not bare, f"fences without a language (use python, bash, text, json, ...): {bare}"


def test_readme_links_resolve() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        link
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
        if "://" not in link and not (ROOT / link).exists()
    ]
    assert not missing, f"README links to files that do not exist: {missing}"


@pytest.mark.parametrize(
    "block",
    [pytest.param(b, id=b.name, marks=[pytest.mark.slow] if "slow" in b.markers else []) for b in RUN_BLOCKS],
)
def test_doc_block_runs(block: Block, request, workspace: Path) -> None:
    if "skip" in block.markers:
        pytest.skip(f"{block.name}: {block.markers['skip'] or 'marked skip'}")
    for module in block.markers.get("requires", "").split():
        pytest.importorskip(module, reason=f"{block.name} needs {module}")
    _prepare(block, request, workspace)
    if block.lang == "python":
        code = compile(block.code, block.name, "exec")
        with warnings.catch_warnings():
            # the docs never show a deprecated name (tessera_onnx attributes the warning to the caller)
            warnings.filterwarnings("error", category=DeprecationWarning, module="__docs_example__")
            exec(code, {"__name__": "__docs_example__"})  # noqa: S102 - the docs are the code under test
        return
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{block.name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_cli_reference_is_generated_from_the_commands() -> None:
    """docs/cli.md is the commands' own --help, with a section per command (scripts/gen_cli_docs.py)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import gen_cli_docs

    expected = gen_cli_docs.render()
    assert "### `tessera encode`" in expected and "### `tessera-export build`" in expected
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == expected, (
        "docs/cli.md is out of date: run python scripts/gen_cli_docs.py"
    )


def test_export_help_states_the_default_int8_profile() -> None:
    from click.testing import CliRunner
    from tessera_export.cli import main
    from tessera_export.pages import DEFAULT_PAGES_INT8_PROFILE
    from tessera_export.precision import DEFAULT_INT8_PROFILE

    out = " ".join(CliRunner().invoke(main, ["build", "--help"], terminal_width=400).output.split())
    assert f"default {DEFAULT_INT8_PROFILE}" in out
    assert f"page models: dynamic or blockwise (default {DEFAULT_PAGES_INT8_PROFILE})" in out


# ----------------------------------------------------------------------------- the site


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason='pip install -e ".[docs]"')
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_site_builds_strict(tmp_path: Path) -> None:
    proc = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "api" / "runtime" / "index.html").is_file()


def test_site_build_fails_on_a_missing_symbol_and_a_broken_link(tmp_path: Path) -> None:
    """The strict build is a real check: with mkdocs.yml's settings, one bad reference fails it."""
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    handler = next(
        p["mkdocstrings"] for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p
    )
    paths = handler["handlers"]["python"]["paths"]
    handler["handlers"]["python"]["paths"] = [str(ROOT / p) for p in paths]
    for case, body in {
        "good": "# Good\n\n::: tessera_onnx.Tessera\n\nSee [home](index.md).\n",
        "symbol": "# Bad\n\n::: tessera_onnx.NoSuchName\n",
        "link": "# Bad\n\nSee [nothing](no-such-page.md).\n",
    }.items():
        docs = tmp_path / case
        docs.mkdir()
        (docs / "index.md").write_text("# Home\n", encoding="utf-8")
        (docs / "page.md").write_text(body, encoding="utf-8")
        config.update(docs_dir=str(docs), nav=[{"Home": "index.md"}, {"Page": "page.md"}])
        cfg = tmp_path / f"mkdocs-{case}.yml"
        cfg.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        proc = _mkdocs(cfg, tmp_path / f"site-{case}")
        if case == "good":
            assert proc.returncode == 0, proc.stdout + proc.stderr
        else:
            assert proc.returncode != 0, f"a {case} error built without failing:\n{proc.stdout}{proc.stderr}"
