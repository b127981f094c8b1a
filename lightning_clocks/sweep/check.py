"""Check every run of a sweep before launching any: ``python -m lightning_clocks.sweep.check`` reads
``{"config": FILE, "runs": {name: [overrides...]}}`` as JSON on stdin and builds each run as ``clocks fit`` would
(parsing, value checks, model and data construction), training nothing and writing nothing.

It runs as one subprocess of ``clocks sweep`` so that the sweep command itself stays free of the heavy imports
(torch, Lightning) while a bad grid value is still refused in one line before any run starts. The first bad run
is printed as ``<run name>: <message>`` on stderr, exit status 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence

from lightning_clocks.errors import ConfigError


def check_runs(config: str, runs: Mapping[str, Sequence[str]]) -> None:
    """Build every run of ``runs`` (name: overrides) from ``config``; raise a ConfigError naming the first bad run."""
    from lightning_clocks.cli import clear_error
    from lightning_clocks.fit import build_run

    for name, overrides in runs.items():
        try:
            build_run(config, overrides, setup=False)
        except Exception as error:
            cause = clear_error(error)
            if cause is None:
                raise
            raise ConfigError(f"run {name}: {' '.join(str(cause).split())}") from None


def check_in_subprocess(config: str, runs: Mapping[str, Sequence[str]]) -> None:
    """Run :func:`check_runs` in a subprocess; a ConfigError with its one line if a run is bad."""
    result = subprocess.run(
        [sys.executable, "-m", "lightning_clocks.sweep.check"],
        input=json.dumps({"config": config, "runs": dict(runs)}),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("run ")]
        detail = lines[-1] if lines else result.stderr.strip()[-500:]
        raise ConfigError(f"the sweep was not started, a run's config is bad: {detail}")


if __name__ == "__main__":
    request = json.load(sys.stdin)
    try:
        check_runs(request["config"], request["runs"])
    except ConfigError as failure:
        print(failure, file=sys.stderr)
        raise SystemExit(2) from None
