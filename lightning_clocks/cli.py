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

import difflib
import errno
import inspect
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
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
    Command(
        "claims", "lightning_clocks.claims.cli:main", "the abstracts' claims as verdicts, from sweeps run for them"
    ),
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
        check_config_files(argv[1:])
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


#: Operating-system errors about the disk or a folder (full, read-only, not ours, a name too long), not about the
#: code: printed as one line, without a traceback.
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG})


def clear_error(error: BaseException) -> BaseException | None:
    """The error behind ``error`` that has a clear message for the user (a ConfigError, a RunFailure, a disk or
    folder error of :data:`DISK_ERRORS`, or a jsonargparse parse error reworded as a ConfigError); None for a bug,
    which keeps its traceback.

    jsonargparse wraps errors raised in constructors, so the chain of causes is searched.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ConfigError, RunFailure)):
            return seen
        if isinstance(seen, OSError) and seen.errno in DISK_ERRORS:
            where = seen.filename if seen.filename is not None else "a file"
            return RunFailure(
                f"{where} cannot be written ({seen.strerror}): free space, make the folder writable or choose "
                "another; a run resumes with --ckpt_path last"
            )
        if type(seen).__name__ == "MisconfigurationException":
            # Lightning's word for a Trainer setting it cannot use (devices, strategy, precision, ...).
            return ConfigError(" ".join(str(seen).split()))
        if type(seen).__name__ == "ArgumentError" and type(seen).__module__.startswith(("jsonargparse", "argparse")):
            return ConfigError(reword_parse_error(str(seen)))
        seen = seen.__cause__ or seen.__context__
    return None


def reword_parse_error(message: str, options: Sequence[str] | None = None) -> str:
    """jsonargparse's multi-line parse error as one line naming the option, the value and what is allowed.

    ``options`` (every option name of the parser) lets an unknown option list the close matches.
    """
    text = " ".join(message.split())
    unknown = re.search(r"unrecognized arguments: (\S+)", text)
    if unknown:
        if not unknown.group(1).startswith("-"):
            return f"argument {unknown.group(1)!r} is not expected; options are given as --key=value (see --help)"
        option = unknown.group(1).split("=", 1)[0].lstrip("-")
        close = difflib.get_close_matches(option, list(dict.fromkeys(options or [])), n=5, cutoff=0.6)
        allowed = f"did you mean {close}?" if close else "see --help for the options"
        return f"option --{option} is unknown; {allowed}"
    required = re.search(r"the following arguments are required: (.*)", text)
    if required:
        missing = [f"--{name.strip().split('.', 1)[-1]}" for name in required.group(1).split(",")]
        return f"missing required options {missing}: give them, or a --config file that sets them"
    knob = re.search(r"Parser key \"([\w.]+)\".*?class_path '([\w.]+)'.*?Option '(\w+)' is not accepted", text)
    if knob:
        key, class_path, option = knob.groups()
        name = class_path.rsplit(".", 1)[-1]
        return f"{key}.{option} is not an option of {name}; allowed: {init_options(class_path)}"
    expected = [
        kind.replace("typing.Literal", "one of ")
        for kind in re.findall(r"Expected a (?:<class '(?:\w+\.)*(\w+)'>|(typing\.Literal\[[^\]]*\]))", text)
        for kind in kind
        if kind and kind != "NoneType"
    ]
    value = re.search(r"(?:Got value|Given value): (.*?)(?:;|$| - )", text)
    if expected and value:
        # Nested keys are reported one level at a time: "data.rule" ... "layout" is data.rule.layout.
        keys = [key for key in re.findall(r"Parser key \"([\w.]+)\"", text) if key != "init_args"]
        key = ".".join(dict.fromkeys(keys)) if keys else "an option"
        allowed = " or ".join(dict.fromkeys(expected))
        return f"{key}={value.group(1).strip()!r} is invalid; allowed: {allowed}"
    if "Unexpected config" in text or "Problems parsing config" in text:
        return f"a --config file is not a mapping of options ({text[:160]})"
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return "; ".join(lines) if lines else "the arguments could not be parsed"


def init_options(class_path: str) -> list[str]:
    """The constructor options of one of this package's classes (rules, modules), for an error message.

    Only classes already imported under this package are looked up; a name from the command line is never
    imported."""
    module_name, _, class_name = class_path.rpartition(".")
    module = sys.modules.get(module_name)
    if not module_name.startswith("lightning_clocks") or module is None or not hasattr(module, class_name):
        return []
    names: list[str] = []
    # A class that passes **kwargs on to its base takes the base's options too.
    for cls in getattr(module, class_name).__mro__:
        if "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(cls.__init__).parameters.values()
        names += [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return list(dict.fromkeys(names))


def check_config_files(argv: Sequence[str]) -> None:
    """Refuse, naming the file, a ``--config`` file that is missing, not YAML, empty, not a mapping of options,
    repeats a key or expands through its aliases beyond reason (:func:`check_yaml_structure`)."""
    import yaml

    for index, arg in enumerate(argv):
        if arg.startswith("--config="):
            name = arg.split("=", 1)[1]
        elif arg == "--config" and index + 1 < len(argv):
            name = argv[index + 1]
        else:
            continue
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"--config {name} does not exist or is not a file")
        try:
            text = path.read_text()
            check_yaml_structure(name, text)
            content = yaml.safe_load(text)
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            place = getattr(error, "problem_mark", None)
            where = f" at line {place.line + 1}" if place is not None else ""
            raise ConfigError(f"--config {name} is not valid YAML{where}: {getattr(error, 'problem', error)}") from None
        if content is None:
            raise ConfigError(f"--config {name} is empty; allowed: a YAML mapping of options (key: value)")
        if not isinstance(content, dict):
            raise ConfigError(
                f"--config {name} holds a {type(content).__name__}; allowed: a YAML mapping of options (key: value)"
            )


#: The most values a config file may hold once its aliases (``*name``) are expanded: a config has hundreds,
#: nested aliases can make billions ("anchor bomb").
MAX_YAML_VALUES = 100_000


def check_yaml_structure(name: str, text: str) -> None:
    """Refuse YAML ``text`` (the file ``name``) that expands to more than :data:`MAX_YAML_VALUES` values, or a
    mapping that repeats a key (YAML loaders silently keep the last one, dropping a whole block).

    Works on the node graph, where an alias is one shared node, so nothing is expanded."""
    import yaml

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    sizes: dict[int, int] = {}

    def expanded_size(node: yaml.Node) -> int:
        """How many values ``node`` stands for once every alias in it is expanded (each node counted once)."""
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a node that holds itself (a recursive alias) counts once
        children = [item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode) else []
        children = node.value if isinstance(node, yaml.SequenceNode) else children
        if isinstance(node, yaml.MappingNode):
            refuse_repeated_keys(name, node)
        sizes[id(node)] = 1 + sum(expanded_size(child) for child in children)
        return sizes[id(node)]

    size = 0 if root is None else expanded_size(root)
    if size > MAX_YAML_VALUES:
        raise ConfigError(
            f"--config {name} expands to {size} values through its YAML aliases (*name); allowed: at most "
            f"{MAX_YAML_VALUES}"
        )


def refuse_repeated_keys(name: str, node: Any) -> None:
    """Refuse a YAML mapping node of the file ``name`` that holds one key twice (``<<``, a merge, may repeat)."""
    import yaml

    keys: dict[str, Any] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
            continue
        if key.value in keys:
            raise ConfigError(
                f"--config {name} repeats the key {key.value!r} at line {key.start_mark.line + 1} (first at line "
                f"{keys[key.value].start_mark.line + 1}); allowed: each key once in a mapping"
            )
        keys[key.value] = key


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
        options = [option.lstrip("-") for action in parser._actions for option in action.option_strings]
        raise ConfigError(f"{parser.prog}: {reword_parse_error(str(error), options)}") from None


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
