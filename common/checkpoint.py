"""The one checkpoint format, apart from training so that inference loads it without the training loop.

A checkpoint is a plain dict (format, model name, constructor config, state dict, metrics, the run's
args, and for `last.pt` the optimizer, scheduler, epoch and history), saved atomically and loaded with
`weights_only=True`, so a file can never run code.
"""
import os
import pickle
from pathlib import Path

import torch

from .cli import UserError
from .models import MODELS, Ensemble, build

FORMAT = 1


def a_model(name):
    """A model's name with its article, for one-line errors: "a classifier", "an ensemble"."""
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def checkpoint_state(model, metrics=None, **training_state):
    return {"format": FORMAT, "model": model.name, "config": model.config,
            "state_dict": model.state_dict(), "metrics": metrics or {}, **training_state}


def save_checkpoint(path, model, metrics=None, **training_state):
    write_state(path, checkpoint_state(model, metrics, **training_state))


def write_state(path, state):
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path, expect=None):
    """Read a checkpoint safely; every way it can be wrong becomes one UserError line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint (train one, or pass --checkpoint to an existing .pt file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # the unpickler raises many types on damaged files; all mean "unusable"
        if "global" in str(e).lower() and isinstance(e, pickle.UnpicklingError):
            raise UserError(f"{path}: refused, the file holds Python objects that could run code "
                            "(only plain checkpoints are loaded); use a checkpoint written by this project") from e
        raise UserError(f"{path}: not a readable checkpoint (truncated or not a PyTorch file)") from e
    if not isinstance(state, dict) or state.get("model") not in MODELS or "state_dict" not in state:
        raise UserError(f"{path}: not a checkpoint of this project (no known model name and weights)")
    if expect is not None and state["model"] not in expect:
        raise UserError(f"{path}: holds {a_model(state['model'])} model, but {' or '.join(map(a_model, expect))} "
                        "was asked for")
    return state


def state_for(path, model):
    """A checkpoint that holds the very model `model` is (its name and config), to load into it."""
    state = load_checkpoint(path, expect=[model.name])
    if build(state["model"], state["config"]).config != model.config:  # older files lack newer defaults
        raise UserError(f"{path}: holds {a_model(state['model'])} with config {state['config']}, but these flags build "
                        f"{model.config}; use the flags of the run that wrote it")
    return state


def model_from_checkpoint(state, path="checkpoint"):
    try:
        model = build(state["model"], state["config"])
        model.load_state_dict(state["state_dict"])
    except (TypeError, RuntimeError, KeyError) as e:
        raise UserError(f"{path}: weights do not fit {a_model(state['model'])} "
                        f"with config {state.get('config')}") from e
    return model


def load_model(path, device):
    """A checkpoint's model on `device`, and the checkpoint itself (its config, args and metrics)."""
    state = load_checkpoint(path)
    return model_from_checkpoint(state, path).to(device), state


def training_size(state):
    """The picture size a checkpoint's model was trained at (128 where the run did not record one)."""
    return state.get("args", {}).get("size", 128)


SHARED_ARGS = ("seed", "epochs", "lr_schedule")  # run settings an ensemble records where all its members agree


def ensemble_of(paths):
    """An Ensemble of the per-pixel automatic models in `paths`, with their weights and decodings, and its args: the
    picture size they share, the members' paths and the SHARED_ARGS they agree on (so experiments.py can group
    ensembles by seed); a file that cannot be a member is refused in one line naming it."""
    models, runs = [], []
    for path in paths:
        state = load_checkpoint(path)
        kind = "hint " * bool(state["config"].get("hints")) + state["model"]
        if kind not in ("colorizer", "classifier"):
            raise UserError(f"{path}: holds {a_model(kind)}; an ensemble averages automatic per-pixel models "
                            "(colorizers and classifiers)")
        models.append(model_from_checkpoint(state, path))
        runs.append({**state.get("args", {}), "size": training_size(state)})
    sizes = sorted({run["size"] for run in runs})
    if len(sizes) > 1:
        raise UserError(f"{', '.join(map(str, paths))}: trained at sizes {sizes}; average models of one size")
    shared = {key: runs[0].get(key) for key in SHARED_ARGS if len({str(run.get(key)) for run in runs}) == 1}
    return Ensemble.of(models), {"size": sizes[0], "members": [str(p) for p in paths], **shared}


def classifier_only(flag, model, state, path):
    """Refuse a flag that means something only to the classifier."""
    if not model.has_bins:
        raise UserError(f"{flag} needs a classifier; {path} holds {a_model(state['model'])}")


def plain_args(args):
    """argparse values as the plain types a weights_only checkpoint may hold."""
    return {k: v if v is None or isinstance(v, (bool, int, float, str)) else str(v) for k, v in vars(args).items()}
