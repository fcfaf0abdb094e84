"""Write docs/cli.md from the commands' own ``--help`` (run after changing a command's options).

    python scripts/gen_cli_docs.py          # rewrites docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is out of date

tests/docs/test_docs_examples.py runs the check, so the reference cannot drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "cli.md"
WIDTH = 100

HEADER = """\
# CLI reference

Two commands come with the package: `tessera` (the runtime: embed, search, forecast, serve; no
torch) and `tessera-export` (the toolchain: checkpoint → artifact; needs the `[export]` extra).
This page is generated from the commands' own `--help` by `python scripts/gen_cli_docs.py`.

Examples of each command are on the pages of its paradigm: [dense text](paradigms/dense.md),
[time series](paradigms/timeseries.md), [images](paradigms/image-text.md),
[hyperbolic](paradigms/hyperbolic.md), [export](export.md), [Ray Data](ray.md),
[serving](serving.md).
"""


def _walk(main: click.Group, group: click.Group, prog: str, path: list[str], level: int) -> list[str]:
    out: list[str] = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        full = [*path, name]
        text = CliRunner().invoke(main, [*full, "--help"], terminal_width=WIDTH, prog_name=prog).output
        out += [f"{'#' * level} `{prog} {' '.join(full)}`", "", "```text", text.rstrip(), "```", ""]
        if isinstance(cmd, click.Group):
            out += _walk(main, cmd, prog, full, level + 1)
    return out


def render() -> str:
    from tessera_export.cli import main as export_main

    from tessera_onnx.cli import main as runtime_main

    lines = [HEADER]
    for prog, main in (("tessera", runtime_main), ("tessera-export", export_main)):
        top = CliRunner().invoke(main, ["--help"], terminal_width=WIDTH, prog_name=prog).output
        lines += [f"## `{prog}`", "", "```text", top.rstrip(), "```", ""]
        lines += _walk(main, main, prog, [], 3)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/gen_cli_docs.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
