"""The ``tessera`` command line: ``tessera --help`` lists the commands.

Each paradigm registers its commands from its own module (``text``, ``timeseries``);
this module only defines the group and imports them.
"""

from __future__ import annotations

import click

from .._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tessera")
def main() -> None:
    """Embed text and time series with tessera ONNX artifacts (no PyTorch needed)."""


def _register() -> None:
    """Import the command modules so they attach their commands to :func:`main`."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_register()
