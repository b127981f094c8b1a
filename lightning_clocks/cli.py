"""The ``clocks`` command: dispatches to the trainer (``fit``, ``validate``) or to a light subcommand.

Light subcommands (``ti``) do not import Lightning, which alone takes seconds to import.
"""

from __future__ import annotations

import sys

from lightning_clocks.errors import ConfigError

LIGHT_SUBCOMMANDS = {"ti": "lightning_clocks.relational.theory"}


def main(args: list[str] | None = None) -> None:
    """Console entry point: configuration errors print one clear line and exit with status 2."""
    argv = sys.argv[1:] if args is None else list(args)
    if not argv:
        argv = ["--help"]
    try:
        if argv and argv[0] in LIGHT_SUBCOMMANDS:
            from importlib import import_module

            raise SystemExit(import_module(LIGHT_SUBCOMMANDS[argv[0]]).main(argv[1:]))
        from lightning_clocks.trainer_cli import resolve_rule_names, run_cli

        sys.argv[1:] = resolve_rule_names(argv)
        run_cli(None)
    except ConfigError as error:
        print(f"clocks: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
