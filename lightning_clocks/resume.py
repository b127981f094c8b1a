"""A resumed run is the run it says it is: the settings a checkpoint was trained under, compared with a resume's.

Every checkpoint of ``clocks fit`` holds the run's resolved config (:data:`CONFIG_KEY`) and the list of settings
changed at earlier resumes (:data:`RESUMES_KEY`). A resume (``--ckpt_path FILE``, ``--ckpt_path last``, or the
``hpc_ckpt_*.ckpt`` that Lightning picks by itself under Slurm) compares its own resolved config with the
checkpoint's, key by key: a key of :data:`RESUME_MAY_CHANGE` may differ (the change is printed and recorded in
the next checkpoints), every other key is part of the experiment and a difference is refused in one line
naming the keys and both values. A checkpoint written before configs were stored is compared with its run
folder's ``config.yaml``, else with the model settings in its ``hyper_parameters``. ``docs/method.md``
("Resuming") describes the table.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lightning_clocks.errors import ConfigError
from lightning_clocks.results import CHECKPOINTS_FOLDER, CONFIG_FILE

#: The checkpoint key that holds the resolved config of the run that wrote it.
CONFIG_KEY = "clocks_config"
#: The checkpoint key that holds the settings changed at each resume: ``[{"step", "changes": {key: [old, new]}}]``.
RESUMES_KEY = "clocks_resumes"

#: The key under which a config's ``trainer.callbacks`` of this package (class paths ``lightning_clocks.*``,
#: e.g. the BasinCallback) are compared: their settings shape what the run measures.
OWN_CALLBACKS_KEY = "trainer.callbacks of lightning_clocks"

#: The settings a resume may change (a key, with every key under it), and why that leaves
#: the experiment the same. Every other key of the config is part of the experiment: model, data, rule, N,
#: seeds, optimizer and learning rate, precision, devices, the clocks' sampling (num_samples, sampling_seed,
#: sample_batch_size, near_copy_distance) and thresholds, EMA.
RESUME_MAY_CHANGE: dict[str, str] = {
    "trainer.max_steps": "where training stops (upward only: never below the checkpoint's step)",
    "trainer.max_time": "where training stops",
    "trainer.default_root_dir": "where the run folder is (a moved run folder resumes)",
    "trainer.logger": "where metrics are logged",
    "trainer.log_every_n_steps": "how often metrics are logged",
    "trainer.enable_progress_bar": "what the terminal shows",
    "trainer.enable_model_summary": "what the terminal shows",
    "trainer.profiler": "what is timed",
    "trainer.callbacks": "extra observers (monitors, fault injection) that come and go between attempts; this "
    f"package's own callbacks (a BasinCallback's probes) are compared under {OWN_CALLBACKS_KEY!r}",
    "wandb": "W&B options (project, entity, tags, mode, group)",
    "checkpoint": "where and how often checkpoints are saved",
    "clocks.eval_steps": "the evaluations from now on (those already made stay in curves.csv)",
    "clocks.num_evaluations": "the evaluations from now on (those already made stay in curves.csv)",
    "clocks.first_step": "the evaluations from now on (those already made stay in curves.csv)",
    "clocks.stop_when_memorized": "where training stops",
    "clocks.stop_copy_rate": "where training stops",
    "threads": "intra-op threads (recorded: it changes losses in late digits)",
}

#: Keys that say how a command was started, not what the run is: never compared or recorded.
INVOCATION_KEYS = frozenset({"ckpt_path", "weights_only", "config", "__path__"})


def may_change(key: str) -> bool:
    """Whether a resume may change the dotted config key ``key`` (see :data:`RESUME_MAY_CHANGE`)."""
    return any(key == name or key.startswith(f"{name}.") for name in RESUME_MAY_CHANGE)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys (``model.lr``; jsonargparse's ``init_args`` level left out of the names), with
    ``trainer.callbacks`` split into this package's callbacks (:data:`OWN_CALLBACKS_KEY`) and the others."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = prefix if key == "init_args" else f"{prefix}{key}."
        if name == "trainer.callbacks.":
            flat.update(split_callbacks(value))
        elif isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        else:
            flat[name.rstrip(".")] = value
    return flat


def split_callbacks(callbacks: Any) -> dict[str, list[Any]]:
    """``trainer.callbacks`` (one or a list) as ``{"trainer.callbacks": others, OWN_CALLBACKS_KEY: ours}``."""
    listed = [callbacks] if isinstance(callbacks, Mapping) else list(callbacks or [])
    ours = [
        item
        for item in listed
        if str(item.get("class_path", "") if isinstance(item, Mapping) else item).startswith("lightning_clocks.")
    ]
    return {"trainer.callbacks": [item for item in listed if item not in ours], OWN_CALLBACKS_KEY: ours}


def run_folder_of(ckpt_path: Path) -> Path:
    """The run folder a checkpoint belongs to: the parent of ``checkpoints/``, else the checkpoint's folder."""
    folder = ckpt_path.parent
    return folder.parent if folder.name == CHECKPOINTS_FOLDER else folder


def saved_config(checkpoint: Mapping[str, Any], ckpt_path: Path) -> tuple[dict[str, Any], str]:
    """The flat config ``checkpoint`` was trained under, and where it was read from (for the error message)."""
    if isinstance(checkpoint.get(CONFIG_KEY), Mapping):
        return flatten(checkpoint[CONFIG_KEY]), "the checkpoint"
    config_file = run_folder_of(ckpt_path) / CONFIG_FILE
    try:
        content = yaml.safe_load(config_file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        content = None
    if isinstance(content, Mapping):
        return flatten(content), str(config_file)
    hyper_parameters = checkpoint.get("hyper_parameters") or {}
    model = {key: value for key, value in hyper_parameters.items() if not key.startswith("_")}
    return flatten({"model": model}), "the checkpoint's hyper_parameters"


def resume_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Every key set in both flat configs whose value differs: ``{key: (saved value, current value)}``.

    Values are compared as YAML would write them (a tuple equals a list, ``1`` equals ``1.0``). A key that only
    one side has (a config of an earlier version) cannot be compared and is left out, as are
    :data:`INVOCATION_KEYS`.
    """
    return {
        key: (saved[key], current[key])
        for key in sorted(saved.keys() & current.keys() - INVOCATION_KEYS)
        if plain(saved[key]) != plain(current[key])
    }


def plain(value: Any) -> Any:
    """``value`` with tuples as lists, for a comparison that does not depend on how it was parsed."""
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    return value


def check_resume(
    ckpt_path: str | Path, checkpoint: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Refuse resuming ``checkpoint`` under the nested config ``current`` if that changes the experiment or sets
    ``trainer.max_steps`` below the checkpoint's step; return the allowed changes (printed on stderr)."""
    ckpt_path = Path(ckpt_path)
    saved, source = saved_config(checkpoint, ckpt_path)
    flat = flatten(current)
    changes = resume_changes(saved, flat)
    refused = {key: values for key, values in changes.items() if not may_change(key)}
    if refused:
        listed = "; ".join(f"{key}: {old!r} there, {new!r} here" for key, (old, new) in refused.items())
        raise ConfigError(
            f"ckpt_path={ckpt_path} is another experiment ({source}): {listed}; a resume may change only "
            "max_steps (upward), logging, checkpointing and the evaluations to come (docs/method.md, Resuming): "
            "resume with the run's own config.yaml, or start a new run folder"
        )
    step, max_steps = int(checkpoint["global_step"]), flat.get("trainer.max_steps")
    if isinstance(max_steps, int) and max_steps != -1 and max_steps < step:
        raise ConfigError(
            f"trainer.max_steps={max_steps} is below the step {step} of ckpt_path={ckpt_path}; allowed: -1 (no "
            f"limit) or an integer >= {step}"
        )
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if changes and rank_zero_only.rank == 0:  # every rank checks; one prints
        listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changes.items())
        print(f"clocks: note: resuming {ckpt_path} at step {step} with changed settings: {listed}", file=sys.stderr)
    return changes


def resume_history(checkpoint: Mapping[str, Any], changes: Mapping[str, tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The checkpoint's record of changed settings, with this resume's ``changes`` appended (if any)."""
    history = list(checkpoint.get(RESUMES_KEY) or [])
    if changes:
        entry = {key: [plain(old), plain(new)] for key, (old, new) in changes.items()}
        history.append({"step": int(checkpoint["global_step"]), "changes": entry})
    return history
