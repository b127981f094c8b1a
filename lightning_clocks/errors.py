"""The package's error types and the argument checks every command shares.

A :class:`ConfigError` is raised before anything is written or trained; the ``clocks`` command
prints it as one line, ``clocks: error: <message>``, and exits with status 2. Every message
names the option, the value and what is allowed. A :class:`RunFailure` (a non-finite loss, an
unreadable checkpoint, a full disk) is printed the same way, with its :attr:`~RunFailure.exit_status`:
1, 75 (``EX_TEMPFAIL``) for a run folder in use by another process, 128 + the signal's number for a run
stopped by SIGINT (130), SIGTERM (143) or SIGUSR1 (138) after saving its ``last.ckpt``.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from pathlib import Path

#: The longest file or folder name, in bytes, that common filesystems accept.
MAX_NAME_BYTES = 255


class ConfigError(ValueError):
    """A configuration value is impossible; the message names the option, the value and what is allowed."""


class RunFailure(RuntimeError):
    """A run stopped for a reason its message explains (printed as one line, exit status :attr:`exit_status`)."""

    #: The process's exit status when this failure ends a command.
    exit_status: int = 1


class RunInUse(RunFailure):
    """Another live process holds the run folder; nothing was written. A sweep leaves such a run alone."""

    #: ``EX_TEMPFAIL`` of sysexits.h: try again later, nothing is wrong with the run.
    exit_status = 75


class RunInterrupted(RunFailure):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGUSR1) at a step boundary, after saving ``last.ckpt``."""

    def __init__(self, signal_name: str, signal_number: int) -> None:
        super().__init__(f"stopped by {signal_name}")
        # The shell's convention for a process ended by a signal.
        self.exit_status = 128 + signal_number


class NonFiniteLossError(RunFailure):
    """The training loss became NaN or infinite (the run's curves and last good weights are saved)."""


def require_positive(option: str, value: int) -> None:
    """Raise a ConfigError naming ``option`` unless ``value`` is a positive integer."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{option}={value!r} is invalid: it must be a positive integer")


def require_at_most(option: str, value: int, limit: int, why: str) -> None:
    """Raise a ConfigError naming ``option`` when ``value`` exceeds ``limit`` (a size that would exhaust memory
    or time before anything useful happened; ``why`` says so)."""
    if value > limit:
        raise ConfigError(f"{option}={value} is too large: allowed at most {limit} ({why})")


def require_non_negative(option: str, value: float) -> None:
    """Raise a ConfigError naming ``option`` unless ``value`` is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{option}={value!r} is invalid: it must be a number >= 0")


def check_threshold(option: str, value: float) -> None:
    """Raise a ConfigError naming ``option`` unless ``0 < value <= 1``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ConfigError(f"{option}={value!r} is invalid: a threshold must lie in (0, 1]")


def check_steps(option: str, steps: Sequence[int] | None) -> None:
    """Raise a ConfigError naming ``option`` unless ``steps`` is None or strictly increasing integers >= 1."""
    if steps is None:
        return
    if not steps or steps[0] < 1 or any(b <= a for a, b in itertools.pairwise(steps)):
        raise ConfigError(f"{option}={list(steps)} is invalid: it must be strictly increasing steps >= 1")


def check_choice(option: str, value: object, allowed: Sequence[object]) -> None:
    """Raise a ConfigError naming ``option`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{option}={value!r} is unknown; allowed: {list(allowed)}")


def check_folder_name(option: str, path: str | os.PathLike[str]) -> None:
    """Raise a ConfigError naming ``option`` unless every name in ``path`` is UTF-8 text (what a saved
    ``config.yaml`` can hold and read back) of at most :data:`MAX_NAME_BYTES` bytes, without control characters
    (a newline would break the lines of a Slurm script)."""
    for name in Path(path).parts:
        try:
            size = len(name.encode("utf-8"))
        except UnicodeEncodeError:
            raise ConfigError(f"{option}={os.fsencode(path)!r} is not UTF-8 text; allowed: UTF-8 names") from None
        if size > MAX_NAME_BYTES:
            raise ConfigError(
                f"{option}={name[:40]}... has a folder name of {size} bytes; allowed: at most {MAX_NAME_BYTES} bytes"
            )
        if any(ord(character) < 32 or ord(character) == 127 for character in name):
            raise ConfigError(f"{option}={str(path)!r} holds a control character (a newline?); allowed: printable")
