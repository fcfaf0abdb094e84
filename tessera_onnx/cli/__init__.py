"""The ``tessera`` command line: ``tessera --help`` lists the commands.

Each paradigm registers its commands from its own module (``text``, ``timeseries``);
this module only defines the group and imports them.
"""

from __future__ import annotations

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tessera")
def main() -> None:
    """Embed text and time series with tessera ONNX artifacts (no PyTorch needed)."""


def _register() -> None:
    """Import the command modules so they attach their commands to :func:`main`."""
    import importlib

    for name in ("text", "timeseries", "vision", "serve", "distributed", "hyperbolic"):
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a module not written yet must not break the CLI
            if exc.name != f"{__name__}.{name}":
                raise


_register()
