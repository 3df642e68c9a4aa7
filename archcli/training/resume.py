"""Training state saved with every `model-last`, so `archcli train --resume` continues exactly.

What a checkpoint needs beyond the model's (possibly averaged) weights: the live weights, the
optimizer's moments and update counts, the step, the batch stream's seed, the best score and the
evaluation history (for patience), the words seen, and the random states of Python, numpy and
torch. Schedules (learning rate, dropout, batch size) are generators, so they are not saved:
resuming replays the batch stream and advances the schedules to the saved step without training,
which reproduces them exactly. The state goes inside the model-last directory, so it is written
atomically with it: a run killed during a save resumes from the previous checkpoint.
"""
import random
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy
import srsly
from thinc.api import Config, get_current_ops

from ..errors import ModelDirError

STATE_DIR = "training_state"
STATE_VERSION = 1
# Settings a resumed run may change: how long it goes on, not what it trains.
RESUMABLE_CHANGES = ("max_steps", "max_epochs", "patience")


def _optimizer_keys(nlp) -> Iterator[Tuple[str, Tuple[int, str]]]:
    """(stable name, optimizer key) for every parameter the optimizer can hold: thinc keys by
    object id, which differs between processes, so each key is named by its component, its node's
    position in the model's walk, and the parameter (or torch shim parameter) name."""
    for name, proc in nlp.components:
        model = getattr(proc, "model", None)
        if model is None or not hasattr(model, "walk"):
            continue
        for index, node in enumerate(model.walk()):
            for param in node.param_names:
                yield f"{name}/{index}/{param}", (node.id, param)
            for shim_index, shim in enumerate(node.shims):
                torch_model = getattr(shim, "_model", None)
                if hasattr(torch_model, "named_parameters"):
                    for param, _ in torch_model.named_parameters():
                        yield f"{name}/{index}/shim{shim_index}/{param}", (shim.id, param)


def _to_numpy(array: Any) -> numpy.ndarray:
    return array.get() if hasattr(array, "get") and not isinstance(array, numpy.ndarray) else numpy.asarray(array)


def _rng_states() -> Dict[str, Any]:
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = numpy.random.get_state()
    states: Dict[str, Any] = {"python": [version, list(internal), gauss],
                              "numpy": [kind, keys, int(pos), int(has_gauss), float(cached)]}
    torch = sys.modules.get("torch")
    if torch is not None:
        states["torch"] = torch.get_rng_state().numpy()
    return states


def _set_rng_states(states: Dict[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    numpy.random.set_state((kind, numpy.asarray(keys, dtype="uint32"), pos, has_gauss, cached))
    if "torch" in states:
        import torch

        torch.set_rng_state(torch.from_numpy(numpy.array(states["torch"], dtype="uint8")))


def training_state(nlp, optimizer, progress: Dict[str, Any]) -> Dict[str, Any]:
    """Everything `restore_state` needs, as msgpack-able values."""
    keys = dict(_optimizer_keys(nlp))
    slots: Dict[str, Dict[str, Any]] = {}
    for stable, key in keys.items():
        slot = {}
        for field in ("mom1", "mom2", "averages"):
            table = getattr(optimizer, field)
            if table is not None and key in table:
                slot[field] = _to_numpy(table[key])
        for field in ("nr_update", "last_seen"):
            if key in getattr(optimizer, field):
                slot[field] = int(getattr(optimizer, field)[key])
        if slot:
            slots[stable] = slot
    weights = {name: proc.model.to_bytes() for name, proc in nlp.components
               if getattr(proc, "model", None) is not None and hasattr(proc.model, "to_bytes")}
    return {"version": STATE_VERSION, "progress": progress, "rng": _rng_states(), "optimizer": slots,
            "weights": weights}


def write_state(directory: Path, state: Dict[str, Any], config: Config) -> None:
    """Into a model directory being written (its temporary sibling)."""
    (directory / STATE_DIR).mkdir()
    (directory / STATE_DIR / "state.msgpack").write_bytes(srsly.msgpack_dumps(state))
    config.to_disk(directory / STATE_DIR / "training.cfg")


def read_state(model_last: Path) -> Tuple[Dict[str, Any], Config]:
    """The state and the training config saved in `model_last`; ModelDirError when there is none."""
    state_file = model_last / STATE_DIR / "state.msgpack"
    if not state_file.is_file():
        raise ModelDirError(f"no training state to resume from (expected {STATE_DIR}/ inside model-last, which "
                            "`archcli train` writes at every checkpoint; this directory was not written by it, "
                            "or by an older archcli)", where=str(model_last))
    try:
        state = srsly.msgpack_loads(state_file.read_bytes())
        config = Config().from_disk(model_last / STATE_DIR / "training.cfg", interpolate=False)
    except (ValueError, OSError) as err:
        raise ModelDirError(f"the training state is damaged ({err})", where=str(state_file)) from None
    if state.get("version") != STATE_VERSION:
        raise ModelDirError(f"training state version {state.get('version')!r} is not {STATE_VERSION}",
                            where=str(state_file))
    return state, config


def config_differences(saved: Config, current: Config) -> List[str]:
    """Dotted keys whose values differ, other than the RESUMABLE_CHANGES of [training]."""
    def flat(node: Any, prefix: str = "") -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.update(flat(value, dotted))
            else:
                out[dotted] = value
        return out

    allowed = {f"training.{key}" for key in RESUMABLE_CHANGES}
    a, b = flat(saved), flat(current)
    return sorted(key for key in set(a) | set(b) if key not in allowed and a.get(key, "<unset>") != b.get(key, "<unset>"))


def restore_state(nlp, optimizer, state: Dict[str, Any], where: str) -> Dict[str, Any]:
    """Load the live weights, the optimizer's slots and the random states; return the progress."""
    for name, proc in nlp.components:
        if name in state["weights"]:
            try:
                proc.model.from_bytes(state["weights"][name])
            except (ValueError, KeyError) as err:
                raise ModelDirError(f"the training state does not fit component '{name}' ({err})", where=where) from None
    keys = dict(_optimizer_keys(nlp))
    unknown = [stable for stable in state["optimizer"] if stable not in keys]
    if unknown:
        raise ModelDirError(f"the training state has optimizer slots for parameters this pipeline lacks "
                            f"({unknown[0]}, …)", where=where)
    ops = get_current_ops()
    for stable, slot in state["optimizer"].items():
        key = keys[stable]
        for field in ("mom1", "mom2", "averages"):
            if field in slot and getattr(optimizer, field) is not None:
                array = numpy.ascontiguousarray(slot[field])
                getattr(optimizer, field)[key] = ops.asarray(array)
        for field in ("nr_update", "last_seen"):
            if field in slot:
                getattr(optimizer, field)[key] = slot[field]
    _set_rng_states(state["rng"])
    return state["progress"]
