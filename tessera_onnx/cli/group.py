"""The error contract of the command lines (``tessera`` and ``tessera-export``).

:class:`ContractGroup` is the ``click.Group`` both use. A :class:`~tessera_onnx.errors.TesseraError`
or a usage error (unknown option, bad value, missing argument) prints **one line**,
``error: <what went wrong and what to do>``, on stderr and exits with status 2; any other
exception (raised by a library below, or a bug) prints one line and exits with status 1. ``--debug`` (before the command
name: ``tessera --debug encode ...``) prints the full traceback as well.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from ..errors import TesseraError

__all__ = ["ContractGroup", "DEBUG_HELP", "USAGE_EXIT", "one_line"]

#: exit status of a TesseraError or a usage error
USAGE_EXIT = 2
DEBUG_HELP = "On an error, print the full traceback too (otherwise one line)."


def one_line(message: str) -> str:
    """``message`` with its lines joined by spaces (error output is one line)."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


class ContractGroup(click.Group):
    """A ``click.Group`` whose errors follow the command lines' contract (see the module doc)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; in standalone mode, turn errors into one line and an exit status."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            hint = ""
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click.UsageError) and ctx is not None:
                hint = f" (see `{ctx.command_path} --help`)"
            self._fail(exc, one_line(exc.format_message()) + hint, USAGE_EXIT, debug)
        except TesseraError as exc:
            self._fail(exc, one_line(str(exc)), USAGE_EXIT, debug)
        except BrokenPipeError:  # output piped into `head` and the like
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - not ours (a library below, or a bug): one line too
            message = f"{type(exc).__name__}: {one_line(str(exc))}"
            if not debug:
                message += " (rerun with --debug for the traceback)"
            self._fail(exc, message, 1, debug)
        sys.exit(result if isinstance(result, int) else 0)

    @staticmethod
    def _fail(exc: BaseException, message: str, status: int, debug: bool) -> None:
        if debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        click.echo(f"error: {message}", err=True)
        sys.exit(status)
