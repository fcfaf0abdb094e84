"""The ``tessera`` command line: ``tessera --help`` lists the commands.

Each paradigm registers its commands from its own module (``text``, ``timeseries``);
this module only defines the group and imports them. Errors follow the contract of
:mod:`tessera_onnx.cli.group`: one line, exit status 2, the traceback only with ``--debug``.
"""

from __future__ import annotations

import click

from .._version import __version__
from .group import DEBUG_HELP, ContractGroup


@click.group(cls=ContractGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tessera")
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
def main(debug: bool) -> None:
    """Embed text and time series with tessera ONNX artifacts (no PyTorch needed).

    Errors print one line and exit with status 2 (``--debug`` adds the traceback).
    """


def _register() -> None:
    """Import the command modules so they attach their commands to :func:`main`."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_register()
