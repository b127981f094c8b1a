"""The ``clocks`` command: dispatches to the trainer (``fit``, ``validate``) or to a light subcommand.

Light subcommands (``ti``) do not import Lightning, which alone takes seconds to import.
"""

from __future__ import annotations

import sys

from lightning_clocks.errors import ConfigError

LIGHT_SUBCOMMANDS = {
    "ti": "lightning_clocks.relational.theory",
    "sweep": "lightning_clocks.sweep",
    "report": "lightning_clocks.report",
    "ti-fit": "lightning_clocks.relational.cli",
    "basins": "lightning_clocks.basins_cli",
    "ensemble": "lightning_clocks.ensemble_cli",
}


def main(args: list[str] | None = None) -> None:
    """Console entry point: configuration errors print one clear line and exit with status 2."""
    argv = sys.argv[1:] if args is None else list(args)
    if not argv:
        argv = ["--help"]
    try:
        if argv and argv[0] in LIGHT_SUBCOMMANDS:
            from importlib import import_module

            raise SystemExit(import_module(LIGHT_SUBCOMMANDS[argv[0]]).main(argv[1:]))
        from lightning_clocks.trainer_cli import resolve_short_names, run_cli

        sys.argv[1:] = resolve_short_names(argv)
        run_cli(None)
    except Exception as error:
        cause = _clear_error(error)
        if cause is None:
            raise
        print(f"clocks: error: {cause}", file=sys.stderr)
        raise SystemExit(2 if isinstance(cause, ConfigError) else 1) from None


def _clear_error(error: BaseException) -> BaseException | None:
    """The ConfigError or NonFiniteLossError behind ``error`` (jsonargparse wraps errors raised in constructors)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConfigError) or type(seen).__name__ == "NonFiniteLossError":
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


if __name__ == "__main__":
    main()
