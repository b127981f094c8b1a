"""The ``clocks`` command: one table of subcommands, which is also ``clocks --help``.

Every subcommand parses its options with jsonargparse from typed signatures, so all of them
speak one syntax: ``--key=value`` with underscores, dotted keys for nested settings
(``--basins.sigmas=[0.5,1.0]``), ``--config FILE`` for the subcommand's own settings and
``--print_config`` to show them. A subcommand's module is imported only when it runs, so
``clocks --help`` and the light subcommands (``report``, ``sweep``, ``ti``) never import
Lightning, which alone takes seconds. Bad input ends in one line, ``clocks: error: ...``, and
exit status 2, before anything is written.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from lightning_clocks import __version__
from lightning_clocks.errors import ConfigError, RunFailure, RunInterrupted

if TYPE_CHECKING:
    from jsonargparse import ArgumentParser, Namespace


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, the function that runs it (``module:function``, taking the arguments after the
    subcommand's name and returning an exit status) and its line in ``clocks --help``."""

    name: str
    entry: str
    summary: str

    def run(self, argv: list[str]) -> int:
        module_name, function_name = self.entry.split(":")
        return int(getattr(import_module(module_name), function_name)(argv) or 0)


#: Every subcommand of ``clocks``, in the order of ``clocks --help``.
COMMANDS: tuple[Command, ...] = (
    Command("fit", "lightning_clocks.fit:fit", "train a DiT or a GPT on a rule and measure tau_rule and tau_mem"),
    Command("validate", "lightning_clocks.fit:validate", "evaluate a checkpoint once and print every metric"),
    Command("sweep", "lightning_clocks.sweep.cli:main", "run fit over a grid of config values and seeds"),
    Command("ensemble", "lightning_clocks.ensemble.cli:main", "train several seeds of one config in one process"),
    Command(
        "report", "lightning_clocks.report.cli:main", "figures, scaling fits and findings from run and sweep folders"
    ),
    Command("basins", "lightning_clocks.basins.cli:main", "measure basins of attraction on a run's checkpoints"),
    Command("ti", "lightning_clocks.relational.cli:theory", "kernel theory of transitive inference with an exception"),
    Command("ti-fit", "lightning_clocks.relational.cli:fit", "train a pair model on transitive inference, with clocks"),
)


def usage() -> str:
    """``clocks --help``: what the tool is for and every subcommand with its one-line description."""
    width = max(len(command.name) for command in COMMANDS)
    lines = [
        "usage: clocks <subcommand> [options]   (python -m lightning_clocks <subcommand> [options])",
        "",
        "Measure when a generative model learns a rule (tau_rule) and when it starts copying its training set",
        "(tau_mem).",
        "",
        "subcommands:",
        *(f"  {command.name:<{width}}  {command.summary}" for command in COMMANDS),
        "",
        "options:",
        "  -h, --help  show this message; `clocks <subcommand> --help` lists a subcommand's options",
        "  --version   print the version",
        "",
        "Every subcommand takes --key=value options (dotted keys for nested settings), --config FILE and",
        "--print_config. Documentation: README.md and docs/ in the project.",
    ]
    return "\n".join(lines)


def main(args: Sequence[str] | None = None) -> None:
    """Console entry point: run the subcommand named first; a configuration error prints one line, exit status 2."""
    argv = list(sys.argv[1:] if args is None else args)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        raise SystemExit(0 if argv else 2)
    if argv[0] == "--version":
        print(f"clocks (lightning_clocks) {__version__}")
        raise SystemExit(0)
    commands = {command.name: command for command in COMMANDS}
    if argv[0] not in commands:
        fail(ConfigError(f"subcommand {argv[0]!r} is unknown; allowed: {list(commands)} (clocks --help)"))
    try:
        status = commands[argv[0]].run(argv[1:])
    except SystemExit as stop:
        # Lightning ends a run that received SIGTERM with SIGTERMException, a SystemExit whose status is 0.
        if type(stop).__name__ != "SIGTERMException":
            raise
        interrupted = RunInterrupted("SIGTERM", signal.SIGTERM)
        interrupted.__notes__ = getattr(stop, "__notes__", [])
        fail(interrupted)
    except Exception as error:
        cause = clear_error(error)
        if cause is None:
            raise
        fail(cause)
    raise SystemExit(status)


def fail(error: BaseException) -> None:
    """Print ``error`` (with its notes) as one ``clocks: error:`` line and exit: 2 for bad configuration, a
    RunFailure's ``exit_status`` for a failed or interrupted run."""
    message = " ".join(" ".join([str(error), *getattr(error, "__notes__", [])]).split())
    print(f"clocks: error: {message}", file=sys.stderr)
    raise SystemExit(2 if isinstance(error, ConfigError) else getattr(error, "exit_status", 1))


def clear_error(error: BaseException) -> BaseException | None:
    """The error behind ``error`` that has a clear message for the user (a ConfigError, a RunFailure, or a
    jsonargparse parse error reworded as a ConfigError); None for a bug, which keeps its traceback.

    jsonargparse wraps errors raised in constructors, so the chain of causes is searched.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ConfigError, RunFailure)):
            return seen
        if type(seen).__name__ == "ArgumentError" and type(seen).__module__.startswith(("jsonargparse", "argparse")):
            return ConfigError(parse_error_line(str(seen)))
        seen = seen.__cause__ or seen.__context__
    return None


def parse_error_line(message: str) -> str:
    """jsonargparse's multi-line parse error as one line: the innermost message that names a key and a value."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return "; ".join(lines) if lines else "the arguments could not be parsed"


# ----------------------------------------------------------------------------- shared parsing
def command_parser(prog: str, description: str) -> ArgumentParser:
    """A jsonargparse parser for a subcommand, in the style every subcommand shares: ``--config FILE``,
    ``--print_config``, no abbreviated options, errors raised (not printed with the usage) so ``main`` words them."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(prog=prog, description=description, exit_on_error=False, allow_abbrev=False)
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of this subcommand's options")
    return parser


def parse_arguments(parser: ArgumentParser, argv: Sequence[str]) -> Namespace:
    """Parse ``argv`` with ``parser``; a parse error becomes a one-line ConfigError."""
    from jsonargparse import ArgumentError

    try:
        return parser.parse_args(list(argv))
    except ArgumentError as error:
        raise ConfigError(f"{parser.prog}: {parse_error_line(str(error))}") from None


def split_passthrough(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``argv`` split at the first ``--``: the subcommand's own options, and the arguments it passes on to fit."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    index = argv.index("--")
    return argv[:index], argv[index + 1 :]


def namespace_dict(namespace: Any) -> dict[str, Any]:
    """A parsed namespace as a plain dict, without the ``config`` bookkeeping keys."""
    values = namespace.as_dict() if hasattr(namespace, "as_dict") else dict(vars(namespace))
    return {key: value for key, value in values.items() if key not in ("config", "__path__")}


if __name__ == "__main__":
    main()
