"""The polykfunc command line.

Exit codes (stable, also in ``polykfunc --help`` and docs/cli.md):

  0  everything as expected (proved, or only declared known bugs)
  1  a counterexample, a vacuous premise, or a declared known bug that no longer appears
  2  invalid input or usage (the message names the file, the place and a hint)
  3  some obligation ended unknown (resource limit) and nothing failed
  4  internal error: polykfunc contradicted itself (a bug in polykfunc; please report it)
"""

from __future__ import annotations

import os
import sys

import click

from polykfunc.errors import InternalError, PolykfuncError, SpecError, UsageError

from .common import EPILOG, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL


class _Group(click.Group):
    def main(self, *args, **kwargs):  # every PolykfuncError becomes a clear message, never a traceback
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:
            e.show()
            sys.exit(EXIT_INPUT)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(EXIT_INPUT)
        except SpecError as e:
            click.echo(e.render(), err=True)
            sys.exit(EXIT_INPUT)
        except (UsageError, PolykfuncError) as e:
            if isinstance(e, InternalError):
                click.echo(f"polykfunc: internal error: {e}", err=True)
                sys.exit(EXIT_INTERNAL)
            click.echo(f"polykfunc: error: {e}", err=True)  # StoreError and other input errors
            sys.exit(EXIT_INPUT)
        except BrokenPipeError:  # output piped into `head` and the like: stop quietly
            try:
                sys.stdout = open(os.devnull, "w")
            finally:
                sys.exit(EXIT_FAIL)


@click.group(cls=_Group, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="polykfunc")
def cli():
    """Prove that polymorphic kfunc resolution never selects an implementation whose lock,
    CPU or context preconditions can be violated, or show a concrete counterexample."""


#: Modules that add commands: each defines ``COMMANDS``, a list of click commands or groups.
#: (One module per command group: proofs and models, the counterexample explorer, fuzzing,
#: BPF programs and designs, reports.)
COMMAND_MODULES = ("polykfunc.cli.prove", "polykfunc.cli.cex", "polykfunc.cli.fuzz", "polykfunc.cli.programs", "polykfunc.cli.report",
                   "polykfunc.cli.oracle", "polykfunc.cli.kernel")


def _register_subcommands() -> None:
    import importlib
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # the feature module is not there (yet): skip it
                continue
            raise
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_register_subcommands()


def main() -> None:
    cli.main(prog_name="polykfunc")
