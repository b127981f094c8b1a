"""``clocks sweep``: grid expansion, the local runner (GPUs, failures, resume) and the Slurm job-array script."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

from lightning_clocks import results
from lightning_clocks.errors import ConfigError
from lightning_clocks.sweep import cli as sweep
from lightning_clocks.sweep import grid, local, slurm

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")
TINY = [
    "--trainer.max_steps=30",
    "--clocks.num_samples=32",
    "--clocks.num_evaluations=4",
    "--data.rule.length=12",
    "--trainer.enable_progress_bar=false",
]


def read_table(path: Path) -> list[dict[str, str]]:
    with open(path) as stream:
        return list(csv.DictReader(stream))


def test_grid_expands_to_every_combination_times_every_seed() -> None:
    checked = grid.check_grid({"data.n_train": [128, 256], "data.rule.group_size": [2, 3]})
    runs = grid.expand_grid(checked, grid.check_seeds([0, 1]))
    assert len(runs) == 8
    assert runs[0].name == "n_train-128_group_size-2_seed-0"
    assert runs[-1].values == {"data.n_train": "256", "data.rule.group_size": "3"}
    assert runs[1].overrides() == [
        "--data.n_train=128",
        "--data.rule.group_size=2",
        "--seed_everything=1",
        "--data.seed=1",
    ]
    assert grid.expand_grid({}, [None])[0].name == "base"
    assert grid.check_grid({"model.lr": [1e-3, 0.01], "model": ["gpt"], "x": [True, [1, 2]]}) == {
        "model.lr": ["0.001", "0.01"],
        "model": ["gpt"],
        "x": ["true", "[1, 2]"],
    }


def test_run_names_keep_keys_with_the_same_last_part_apart() -> None:
    names = grid.short_keys(["model.init_args.width", "data.rule.width", "data.n_train"])
    assert names == {
        "model.init_args.width": "init_args.width",
        "data.rule.width": "rule.width",
        "data.n_train": "n_train",
    }


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ({"data.n_train": 128}, "non-empty list"),
        ({"data.n_train": []}, "non-empty list"),
        ({"data.n_train": "128,256"}, "non-empty list"),
        ({"data.n_train": [1, 1]}, "repeats a value"),
        ({"data.seed": [1, 2]}, "--seeds"),
    ],
)
def test_bad_grids_are_config_errors(specs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        grid.check_grid(specs)


def test_bad_command_lines_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seeds"):
        grid.check_seeds([0, 0])
    with pytest.raises(ConfigError, match="seeds"):
        sweep.main(["--base_config", QUICKSTART, "--out", str(tmp_path), "--seeds=[0,x]"])
    with pytest.raises(ConfigError, match="dry_run"):
        sweep.main(["--base_config", QUICKSTART, "--out", str(tmp_path), "--dry_run=true"])
    with pytest.raises(ConfigError, match="jobs"):
        sweep.main(["--base_config", QUICKSTART, "--out", str(tmp_path), "--jobs", "0"])
    with pytest.raises(ConfigError, match="not a file"):
        sweep.main(["--base_config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)])


def test_local_runner_gives_each_run_one_gpu_its_wandb_group_and_records_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    runs = grid.expand_grid({"data.n_train": ["1", "2", "3", "4"]}, [None])
    variables = ("CUDA_VISIBLE_DEVICES", "WANDB_RUN_GROUP", "WANDB_NAME")
    show = f"import os; print('GPU', *(os.environ[name] for name in {variables!r}))"
    commands = {run.name: [sys.executable, "-c", show] for run in runs}
    commands["n_train-3"] = [
        sys.executable,
        "-c",
        f"open({str(tmp_path / 'n_train-3' / 'clocks.json')!r}, 'w').write('{{}}')",
    ]
    commands["n_train-4"] = [sys.executable, "-c", "raise SystemExit(3)"]

    def refresh_table() -> None:
        sweep.write_table(tmp_path, runs)

    launched = local.run_local(tmp_path, runs, commands, "my_sweep", jobs=2, on_run_end=refresh_table)
    assert [run.name for run in launched] == [run.name for run in runs]
    gpus = set()
    for run in runs[:2]:
        log = (tmp_path / run.name / results.LOG_FILE).read_text()
        gpu, group, name = re.search(r"GPU (\S+) (\S+) (\S+)", log).groups()
        assert (group, name) == ("my_sweep", run.name)
        gpus.add(gpu)
    assert gpus == {"3", "5"}
    assert (tmp_path / "n_train-4" / results.EXIT_FILE).read_text().strip() == "3"
    statuses = {row["run"]: row["status"] for row in read_table(tmp_path / results.SWEEP_TABLE)}
    # Exit status 0 without clocks.json is not a finished run either.
    assert statuses == {"n_train-1": "failed", "n_train-2": "failed", "n_train-3": "finished", "n_train-4": "failed"}

    relaunched = local.run_local(tmp_path, runs, commands, "my_sweep", jobs=2, on_run_end=refresh_table)
    assert [run.name for run in relaunched] == ["n_train-1", "n_train-2", "n_train-4"]
    assert (tmp_path / "n_train-4" / results.LOG_FILE).read_text().count("$ ") == 2
    assert (tmp_path / "n_train-3" / results.LOG_FILE).read_text().count("$ ") == 1


def test_cpu_runs_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    environment = local.run_environment("group", "run", None, jobs=3)
    assert environment["OMP_NUM_THREADS"] == "2" and "CUDA_VISIBLE_DEVICES" not in environment
    on_gpu = local.run_environment("group", "run", "1", jobs=4)
    assert (on_gpu["CUDA_VISIBLE_DEVICES"], on_gpu["OMP_NUM_THREADS"]) == ("1", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert local.run_environment("group", "run", None, jobs=3)["OMP_NUM_THREADS"] == "5"


def test_runs_per_gpu_sets_how_many_runs_go_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert local.local_jobs(None, None, []) == 6
    assert local.local_jobs(None, None, ["0", "1"]) == 2 * local.RUNS_PER_GPU
    assert local.local_jobs(None, 4, ["0", "1"]) == 8
    assert local.local_jobs(3, None, ["0", "1"]) == 3
    with pytest.raises(ConfigError, match="runs_per_gpu=0 is invalid"):
        local.local_jobs(None, 0, ["0"])
    with pytest.raises(ConfigError, match="not both"):
        local.local_jobs(2, 2, ["0"])
    with pytest.raises(ConfigError, match="runs_per_gpu needs a visible GPU"):
        local.local_jobs(None, 2, [])


def run_sweep(*args: str) -> subprocess.CompletedProcess:
    """``clocks sweep`` in a subprocess; one thread per run, since thread contention slows tiny runs several-fold."""
    return subprocess.run(
        [sys.executable, "-m", "lightning_clocks.cli", "sweep", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )


def test_a_finished_sweep_launches_nothing_and_a_larger_max_steps_extends_its_runs(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ["--base_config", QUICKSTART, "--grid={data.n_train: [64]}", "--seeds=[0]", "--out", str(out), "--", *TINY]
    run_dir = out / "n_train-64_seed-0"
    first = run_sweep(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    (row,) = read_table(out / results.SWEEP_TABLE)
    assert (row["run"], row["status"], row["data.n_train"], row["seed"], row["steps_trained"]) == (
        "n_train-64_seed-0",
        results.FINISHED,
        "64",
        "0",
        "30",
    )
    assert {"tau_rule", "tau_mem", "window_open", "window_log10", "final_validity", "final_copy_rate"} <= set(row)

    log = run_dir / results.LOG_FILE
    state = (log.stat().st_mtime_ns, log.read_text(), (run_dir / "clocks.json").stat().st_mtime_ns)
    assert "[sweep] 1/1 done after" in first.stdout
    second = run_sweep(*args)
    assert second.returncode == 0
    assert "1 of 1 runs already finished; launching 0" in second.stdout
    assert (log.stat().st_mtime_ns, log.read_text(), (run_dir / "clocks.json").stat().st_mtime_ns) == state

    # A larger max_steps extends the finished run from its checkpoint; a script only written extends nothing.
    curves = (run_dir / results.CURVES_FILE).read_text().splitlines()
    dry = run_sweep(*args[: -len(TINY) - 1], "--slurm=true", "--dry_run=true", "--", *TINY, "--trainer.max_steps=60")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert results.run_status(run_dir) == results.FINISHED and "extending" not in dry.stdout
    longer = run_sweep(*args, "--trainer.max_steps=60")
    assert longer.returncode == 0, longer.stdout + longer.stderr
    assert "sweep/n_train-64_seed-0: trained to max_steps=30, 60 asked; extending it from its last checkpoint" in (
        longer.stdout
    )
    (row,) = read_table(out / results.SWEEP_TABLE)
    assert (row["status"], row["steps_trained"]) == (results.FINISHED, "60")
    extended = (run_dir / results.CURVES_FILE).read_text().splitlines()
    # The first 30 steps' rows are kept as they were; the resume adds rows after them.
    assert extended[: len(curves)] == curves and len(extended) > len(curves)
    assert int(extended[-1].split(",")[0]) == 60
    assert "at step 30 with changed settings: trainer.max_steps: 30 -> 60" in log.read_text()
    # The extended run records its new limit: the same command again launches nothing.
    again = run_sweep(*args, "--trainer.max_steps=60")
    assert "1 of 1 runs already finished; launching 0" in again.stdout and "extending" not in again.stdout


def test_slurm_dry_run_writes_one_array_task_per_run_and_sweep_and_report_skip_lightning(tmp_path: Path) -> None:
    out = tmp_path / "slurm"
    code = (
        "import sys; from lightning_clocks.report import cli as report; "
        "from lightning_clocks.sweep import cli as sweep; "
        f"sys.exit(sweep.main(['--base_config', {QUICKSTART!r}, "
        "'--grid={data.n_train: [128, 256], data.rule.group_size: [2, 3]}', "
        f"'--out', {str(out)!r}, '--slurm=true', '--dry_run=true', "
        "'--sbatch_options=[--gres=gpu:1]', '--', '--trainer.max_steps=500']) "
        "or int('lightning' in sys.modules or 'torch' in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not submitted: dry_run" in result.stdout
    script = (out / results.SBATCH_FILE).read_text()
    assert "#SBATCH --array=0-3\n" in script
    assert "#SBATCH --gres=gpu:1\n" in script
    assert "export WANDB_RUN_GROUP=slurm\n" in script
    arms = re.findall(r"^  (\d+)\) run (.*) & pids\+=\(\$!\) ;;$", script, flags=re.MULTILINE)
    assert [int(index) for index, _ in arms] == [0, 1, 2, 3]
    expected = [(n_train, group_size) for n_train in ("128", "256") for group_size in ("2", "3")]
    for (_, command), (n_train, group_size) in zip(arms, expected, strict=True):
        name = f"n_train-{n_train}_group_size-{group_size}"
        assert command.startswith(f"{out / name} {name} {sys.executable} -m lightning_clocks fit ")
        assert f"--config={QUICKSTART}" in command
        assert f"--data.n_train={n_train} --data.rule.group_size={group_size} --trainer.max_steps=500" in command
        # Each run's share of the task's CPUs comes last, as its --threads.
        assert command.endswith(
            f'--trainer.default_root_dir={out / name} --ckpt_path=last --threads="$OMP_NUM_THREADS"'
        )
    assert [row["status"] for row in read_table(out / results.SWEEP_TABLE)] == [results.PENDING] * 4

    # An array task whose run has finished launches nothing; an index beyond the array is an error.
    finished = out / "n_train-128_group_size-2"
    finished.mkdir()
    (finished / results.EXIT_FILE).write_text("0\n")
    (finished / "clocks.json").write_text("{}")
    environment = {**os.environ, "SLURM_ARRAY_TASK_ID": "0"}
    task = subprocess.run(["bash", str(out / results.SBATCH_FILE)], capture_output=True, text=True, env=environment)
    assert task.returncode == 0 and "has finished already" in task.stdout
    assert not (finished / results.LOG_FILE).exists()
    environment["SLURM_ARRAY_TASK_ID"] = "4"
    beyond = subprocess.run(["bash", str(out / results.SBATCH_FILE)], capture_output=True, text=True, env=environment)
    assert beyond.returncode == 2


# ----------------------------------------------------------------------------- campaigns: Slurm, shards, status
def fake_runs(count: int) -> list[grid.SweepRun]:
    return grid.expand_grid({"data.n_train": [str(n) for n in range(1, count + 1)]}, [None])


def test_slurm_script_packs_runs_throttles_the_array_and_runs_setup_lines(tmp_path: Path) -> None:
    runs = fake_runs(5)
    commands = {run.name: ["true"] for run in runs}
    setup = ["module load cuda/12.8", "source /opt/venv/bin/activate"]
    script = slurm.sbatch_script(tmp_path, runs, commands, "camp", ["--gres=gpu:1"], 2, 3, setup)
    assert "#SBATCH --array=0-2%3\n" in script
    assert "#SBATCH --requeue\n" in script and "#SBATCH --signal=B:USR1@90\n" in script
    assert '#SBATCH --job-name="camp"\n' in script and "#SBATCH --open-mode=append\n" in script
    assert f'#SBATCH --output="{tmp_path}/slurm-%A_%a.out"\n' in script
    assert 'srun "$@"' not in script and "--ntasks-per-node" not in script
    assert script.index("module load cuda/12.8\nsource /opt/venv/bin/activate\n") < script.index("\ncd ")
    assert "threads=$(( ${SLURM_CPUS_PER_TASK:-2} / 2 ))" in script
    # Always the script's own count: sbatch exports the submitting shell's OMP_NUM_THREADS, meant for its machine.
    assert "export OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 ))\n" in script
    arms = re.findall(r"^  (\d+)\) (.*) ;;$", script, flags=re.MULTILINE)
    assert [(index, arm.count("run ")) for index, arm in arms] == [("0", 2), ("1", 2), ("2", 1)]
    assert "n_train-5" in arms[2][1]


def test_a_run_on_several_devices_is_one_srun_task_warned_through_its_batch_shell(tmp_path: Path) -> None:
    config = tmp_path / "base.yaml"
    config.write_text("trainer:\n  devices: 1\n")
    assert slurm.fit_devices(config, [], {}) == 1
    assert slurm.fit_devices(config, ["--trainer.devices=4"], {}) == 4
    assert slurm.fit_devices(config, ["--trainer.devices", "[0,1]"], {}) == 2
    assert slurm.fit_devices(config, ["--trainer.devices=auto"], {}) == 1
    runs = fake_runs(2)
    script = slurm.sbatch_script(tmp_path, runs, {run.name: ["fit"] for run in runs}, "camp", devices=4)
    assert "#SBATCH --ntasks-per-node=4\n" in script and "#SBATCH --signal=B:USR1@90\n" in script
    assert 'WANDB_NAME="$name" srun "$@"' in script
    with pytest.raises(ConfigError, match=r"runs_per_task=2 with trainer\.devices=4"):
        slurm.sbatch_script(tmp_path, runs, {run.name: ["fit"] for run in runs}, "camp", runs_per_task=2, devices=4)


def test_a_packed_task_runs_its_runs_at_once_each_with_its_folder_log_and_exit_code(tmp_path: Path) -> None:
    runs = fake_runs(3)
    ready = tmp_path / "second_started"
    # The first run waits for the second to start: the task passes only if they run at the same time.
    waits = f"import os, time; [time.sleep(0.05) for _ in range(200) if not os.path.exists({str(ready)!r})]"
    commands = {
        "n_train-1": [sys.executable, "-c", waits + f"; open({str(tmp_path / 'n_train-1' / 'clocks.json')!r}, 'w')"],
        "n_train-2": [sys.executable, "-c", f"open({str(ready)!r}, 'w'); print('second run'); raise SystemExit(3)"],
        "n_train-3": ["true"],
    }
    script = tmp_path / "sweep.sbatch"
    script.write_text(slurm.sbatch_script(tmp_path, runs, commands, "camp", runs_per_task=2))
    environment = {**os.environ, "SLURM_ARRAY_TASK_ID": "0"}
    task = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=environment, timeout=60)
    assert task.returncode == 1, task.stdout + task.stderr
    assert (tmp_path / "n_train-1" / results.EXIT_FILE).read_text() == "0\n"
    assert (tmp_path / "n_train-2" / results.EXIT_FILE).read_text() == "3\n"
    assert "second run" in (tmp_path / "n_train-2" / results.LOG_FILE).read_text()
    assert not (tmp_path / "n_train-3").exists()
    assert results.run_status(tmp_path / "n_train-1") == results.FINISHED


def test_a_preempted_task_lets_every_run_save_then_requeues_itself(tmp_path: Path) -> None:
    runs = fake_runs(2)
    saver = (
        "import signal, sys, time, pathlib; "
        "signal.signal(signal.SIGUSR1, lambda *_: (pathlib.Path(sys.argv[1]).write_text('saved'), sys.exit(138))); "
        "pathlib.Path(sys.argv[1] + '.started').write_text(''); time.sleep(60)"
    )
    commands = {run.name: [sys.executable, "-c", saver, str(tmp_path / f"{run.name}.ckpt")] for run in runs}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "requeued"}\n')
    scontrol.chmod(0o755)
    script = tmp_path / "sweep.sbatch"
    script.write_text(slurm.sbatch_script(tmp_path, runs, commands, "camp", runs_per_task=2))
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_ARRAY_TASK_ID": "0",
        "SLURM_ARRAY_JOB_ID": "77",
    }
    task = subprocess.Popen(["bash", str(script)], env=environment, stdout=subprocess.PIPE, text=True)
    for _ in range(300):
        if all((tmp_path / f"{run.name}.ckpt.started").exists() for run in runs):
            break
        time.sleep(0.05)
    task.send_signal(signal.SIGUSR1)  # what #SBATCH --signal=B:USR1@90 sends before the time limit
    stdout, _ = task.communicate(timeout=30)
    assert task.returncode == 0, stdout
    assert all((tmp_path / f"{run.name}.ckpt").read_text() == "saved" for run in runs)
    assert (tmp_path / "requeued").read_text().strip() == "requeue 77_0"
    # No exit code: the runs are incomplete, and the requeued task resumes them.
    assert [results.run_status(tmp_path / run.name) for run in runs] == [results.INCOMPLETE] * 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slurm=true", "--jobs=4"], "jobs=4 does not apply to a Slurm sweep"),
        (["--slurm=true", "--runs_per_gpu=2"], "runs_per_gpu=2 does not apply to a Slurm sweep: with slurm=true set"),
        (["--slurm=true", "--shard=0/2"], "shard='0/2' does not apply to a Slurm sweep"),
        (["--runs_per_task=2"], "runs_per_task=2 only applies with slurm=true"),
        (["--max_concurrent=2"], "max_concurrent=2 only applies with slurm=true"),
        (["--slurm=true", "--max_concurrent=0"], "max_concurrent=0 is invalid"),
        (["--slurm=true", "--runs_per_task=0"], "runs_per_task=0 is invalid"),
        (["--slurm=true", "--signal_seconds=-5"], "signal_seconds=-5 is invalid"),
        (["--slurm=true", "--name=a\nb"], "name='a\\nb' contains a line break"),
        (["--slurm=true", '--sbatch_options=["--time=1:00\\n#SBATCH --x"]'], "sbatch_options='--time=1:00\\n#SBATCH"),
        (["--slurm=true", '--setup=["module load x\\ny"]'], "setup='module load x\\ny' contains a line break"),
        (["--slurm=true", '--name=a"b'], "name='a\"b' contains a double quote"),
        (["--shard=2/2"], "shard='2/2' is invalid; allowed: i/n with 0 <= i < n"),
    ],
)
def test_options_a_runner_would_ignore_or_cannot_hold_are_refused(
    tmp_path: Path, args: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        sweep.main(["--base_config", QUICKSTART, "--out", str(tmp_path / "out"), *args])
    assert not (tmp_path / "out").exists()


def test_a_shard_runs_every_nth_run_and_the_table_keeps_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[str] = []
    monkeypatch.setattr(sweep, "run_local", lambda out, runs, *args, **kwargs: launched.extend(r.name for r in runs))
    out = tmp_path / "out"
    code = sweep.main(
        ["--base_config", QUICKSTART, "--out", str(out), "--grid={data.n_train: [1,2,3,4,5]}", "--shard=1/2"]
    )
    assert code == 1  # the shard's runs did not finish (nothing ran)
    assert launched == ["n_train-2", "n_train-4"]
    assert len(read_table(out / results.SWEEP_TABLE)) == 5


def test_a_locked_run_is_running_elsewhere_not_failed(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    run_dir = out / "n_train-64_seed-0"
    run_dir.mkdir(parents=True)
    # A live process on this host (the test itself) holds the run.
    lock = {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job_id": None, "started": "now"}
    (run_dir / ".lock").write_text(json.dumps(lock))
    args = ["--base_config", QUICKSTART, "--grid={data.n_train: [64]}", "--seeds=[0]", "--out", str(out), "--", *TINY]
    result = run_sweep(*args)
    assert result.returncode == 75, result.stdout + result.stderr
    assert (run_dir / results.EXIT_FILE).read_text() == "75\n"
    assert "1 running elsewhere" in result.stdout
    (row,) = read_table(out / results.SWEEP_TABLE)
    assert row["status"] == "running elsewhere"
    shown = run_sweep("--out", str(out), "--status=true")
    assert shown.returncode == 0 and re.search(r"n_train-64_seed-0 +running elsewhere", shown.stdout)
    assert shown.stdout.strip().endswith("1 running elsewhere")
    (run_dir / ".lock").unlink()  # the other process let go: the run is incomplete, to resume
    assert re.search(r"n_train-64_seed-0 +incomplete", run_sweep("--out", str(out), "--status=true").stdout)


def test_a_grid_over_the_model_family_trains_each_family_on_the_same_rule_n_and_seeds() -> None:
    """``{model: [dit, gpt]}`` on the DiT quickstart: the DiT keeps its config, the GPT gets its defaults."""
    runs = grid.expand_grid(grid.check_grid({"model": ["dit", "gpt"]}), grid.check_seeds([0, 1]))
    names = ["model-dit_seed-0", "model-dit_seed-1", "model-gpt_seed-0", "model-gpt_seed-1"]
    assert [run.name for run in runs] == names
    assert runs[2].overrides() == ["--model=gpt", "--seed_everything=0", "--data.seed=0"]
    base = [sys.executable, "-m", "lightning_clocks", "fit", "--config", str(REPO / "configs" / "quickstart_dit.yaml")]
    model, rest = {}, {}
    for family in ("dit", "gpt"):
        command = [*base, f"--model={family}", "--print_config"]
        printed = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout
        model[family], rest[family] = printed.split("\nmodel:\n", 1)[1].split("\ndata:\n", 1)
    assert all(text in model["dit"] for text in ("DiffusionModule", "width: 64", "p_mean: 0.0"))
    assert all(text in model["gpt"] for text in ("AutoregressiveModule", "n_embd: 64", "lr: 0.002"))
    assert rest["dit"] == rest["gpt"]  # the same data (rule, N, seed), clocks and trainer
