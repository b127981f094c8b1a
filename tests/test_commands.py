"""The ``clocks`` command table: one help listing every subcommand, each with its own help, one option style."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

from lightning_clocks import __version__
from lightning_clocks.cli import COMMANDS, main, usage


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``clocks ARGV`` in this process: exit status, stdout, stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_help_lists_every_subcommand_and_imports_nothing_heavy() -> None:
    code = (
        "import sys; from lightning_clocks.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as exit:\n    status = exit.code\n"
        "heavy = [name for name in ('lightning', 'torch', 'jsonargparse') if name in sys.modules]\n"
        "print('HEAVY', heavy, 'STATUS', status)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "HEAVY [] STATUS 0" in result.stdout
    names = {"fit", "validate", "sweep", "ensemble", "report", "basins", "claims", "ti", "ti-fit"}
    assert {command.name for command in COMMANDS} == names
    for name in names:
        assert f"\n  {name} " in result.stdout
    assert "test" not in {line.split()[0] for line in usage().splitlines() if line.startswith("  ") and line.split()}


def test_every_subcommand_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in COMMANDS:
        status, out, err = run_main(capsys, command.name, "--help")
        assert status == 0, (command.name, err)
        assert "--config" in out, command.name
        assert "--print_config" in out, command.name


def test_version_and_python_dash_m(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "--version")
    assert status == 0 and out.strip() == f"clocks (lightning_clocks) {__version__}"
    module = subprocess.run(
        [sys.executable, "-m", "lightning_clocks", "--version"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert module.returncode == 0 and module.stdout.strip() == f"clocks (lightning_clocks) {__version__}"


@pytest.mark.parametrize("subcommand", ["test", "predict", "fitt"])
def test_unknown_subcommands_are_refused_in_one_line(capsys: pytest.CaptureFixture[str], subcommand: str) -> None:
    status, _, err = run_main(capsys, subcommand)
    assert status == 2
    assert err.strip().splitlines() == [
        f"clocks: error: subcommand {subcommand!r} is unknown; allowed: {[command.name for command in COMMANDS]} "
        "(clocks --help)"
    ]


def test_short_names_work_in_class_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "fit", "--model.help", "gpt")
    assert status == 0, err
    assert "--model.n_layer" in out
    status, out, err = run_main(capsys, "fit", "--data.rule.help=sudoku")
    assert status == 0, err
    assert "--data.rule.size" in out


def test_light_subcommands_share_one_option_style(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    status, out, err = run_main(capsys, "ti", "--variant=mid", "--alpha=0.2", "--print_config")
    assert status == 0, err
    assert "variant: mid" in out and "alpha: 0.2" in out
    config = tmp_path / "ti.yaml"
    config.write_text("variant: mid\nalpha: 0.3\noutput: json\n")
    status, out, err = run_main(capsys, "ti", f"--config={config}")
    assert status == 0, err
    assert '"alpha": 0.3' in out
    status, _, err = run_main(capsys, "report", str(tmp_path), "--rule-threshold=0.3")
    assert status == 2 and len(err.strip().splitlines()) == 1
