"""What `spacy debug model` shows: the layer tree, then per-layer output/gradient statistics
on sample data before and after a few training steps."""
import itertools
from typing import Any, Dict, List, Optional, TextIO

import numpy
from thinc.api import Config, Model, Ragged, fix_random_seed
from thinc.types import Padded

from .config import dot_to_object, resolve_block
from .errors import ArchcliError
from .language import Pipeline
from .pipeline.listened import ListenedPipe
from .tokens.example import Example
from .training.loop import resolve_training

MAX_NAME = 72  # thinc names a combinator after all its children: 400+ characters for a tok2vec


def _arrays(value: Any) -> List[numpy.ndarray]:
    """The float arrays in a layer's output or gradient (ids and hashes carry no statistics)."""
    if isinstance(value, (Ragged, Padded)):
        value = value.data
    if isinstance(value, (list, tuple)):
        return [a for item in value for a in _arrays(item)]
    if hasattr(value, "shape") and hasattr(value, "dtype") and value.dtype.kind == "f":
        return [value]
    return []


def short_name(name: str, limit: int = MAX_NAME) -> str:
    """`name` cut in the middle to `limit` characters; the children are printed below it anyway."""
    if len(name) <= limit:
        return name
    tail = limit // 3
    return f"{name[: limit - tail - 1]}…{name[-tail:]}"


def _stats(value: Any) -> Optional[Dict[str, float]]:
    # cupy arrays have .get(); numpy arrays pass through.
    arrays = [numpy.asarray(a.get() if hasattr(a, "get") else a) for a in _arrays(value)]
    arrays = [a.ravel() for a in arrays if a.size]
    if not arrays:
        return None
    flat = numpy.concatenate(arrays)
    return {"mean": float(flat.mean()), "std": float(flat.std()), "min": float(flat.min()),
            "max": float(flat.max()), "n": int(flat.size)}


_WRAPPED: set = set()


def instrument(model: Model, record: Dict[int, Dict[str, Any]]) -> None:
    """Wrap each layer's forward to record output and gradient statistics by layer id."""
    for node in model.walk():
        if node.id in _WRAPPED:
            continue
        _WRAPPED.add(node.id)
        original = node._func

        def forward(layer, X, is_train, _original=original):
            Y, backprop = _original(layer, X, is_train)
            record.setdefault(layer.id, {})["output"] = _stats(Y)

            def wrapped_backprop(dY):
                record.setdefault(layer.id, {})["gradient"] = _stats(dY)
                return backprop(dY)

            return Y, wrapped_backprop

        node._func = forward


def layer_tree(model: Model) -> List[Dict[str, Any]]:
    rows = []

    def visit(node: Model, depth: int) -> None:
        dims = {name: node.maybe_get_dim(name) for name in node.dim_names}
        n_params = sum(int(node.get_param(p).size) for p in node.param_names if node.has_param(p))
        rows.append({"id": node.id, "depth": depth, "name": node.name, "dims": dims, "params": n_params})
        for child in node.layers:
            visit(child, depth + 1)

    visit(model, 0)
    return rows


def debug_model(config: Config, component: str, *, n_steps: int = 5, n_examples: int = 8,
                out: Optional[TextIO] = None) -> Dict[str, Any]:
    """Build, initialise and briefly train `component`; return (and print) what happened."""
    import sys

    out = out or sys.stdout
    interpolated, T = resolve_training(config)
    fix_random_seed(T["seed"])
    nlp = Pipeline.from_config(config)
    proc = nlp.get_pipe(component)
    if not isinstance(getattr(proc, "model", None), Model):
        raise ArchcliError(f"component '{component}' has no model to debug")
    examples = _sample_examples(nlp, interpolated, T, n_examples)
    # A component reading a shared tok2vec through a listener is shown with its upstream model.
    upstream = [p.model for _, p in nlp.components if isinstance(p, ListenedPipe) and component in p.listener_map]
    models = upstream + [proc.model]
    record: Dict[int, Dict[str, Any]] = {}
    print(f"Layer tree of '{component}' (before initialisation)", file=out)
    for model in models:
        _print_tree(layer_tree(model), {}, out)
    optimizer = nlp.initialize(lambda: examples)
    for model in models:
        instrument(model, record)
    nlp.update(examples, drop=0.0, losses={})
    before = {k: dict(v) for k, v in record.items()}
    print(f"\nAfter initialisation, one forward/backward pass on {len(examples)} sample docs", file=out)
    for model in models:
        _print_tree(layer_tree(model), before, out)
    losses_per_step = []
    for _ in range(n_steps):
        losses: Dict[str, float] = {}
        nlp.update(examples, drop=0.1, sgd=optimizer, losses=losses)
        losses_per_step.append(losses.get(component, 0.0))
    record.clear()
    nlp.update(examples, drop=0.0, losses={})
    after = {k: dict(v) for k, v in record.items()}
    print(f"\nAfter {n_steps} training steps (loss of '{component}' per step: "
          + ", ".join(f"{l:.3f}" for l in losses_per_step) + ")", file=out)
    for model in models:
        _print_tree(layer_tree(model), after, out)
    trees = [row for model in models for row in layer_tree(model)]
    return {"tree": trees, "before": before, "after": after, "losses": losses_per_step}


def _sample_examples(nlp: Pipeline, interpolated: Config, T: Dict[str, Any], n: int) -> List[Example]:
    hint = "debug-model needs a few training examples: set --paths.train to annotated data"
    try:
        corpora = {"corpora": resolve_block(interpolated.get("corpora", {}), "corpora")}
        corpus = dot_to_object(corpora, T["train_corpus"])
        examples = list(itertools.islice(corpus(nlp), n))
    except ArchcliError as err:
        raise ArchcliError(f"{hint} ({err})") from err
    if not examples:
        raise ArchcliError(hint)
    return examples


def _fmt(stats: Optional[Dict[str, float]]) -> str:
    if not stats:
        return ""
    return f"mean {stats['mean']:+.4f} std {stats['std']:.4f} [{stats['min']:+.3f}, {stats['max']:+.3f}]"


def _print_tree(rows: List[Dict[str, Any]], record: Dict[int, Dict[str, Any]], out: TextIO) -> None:
    for row in rows:
        dims = ", ".join(f"{k}={'?' if v is None else v}" for k, v in row["dims"].items())
        line = f"{'  ' * row['depth']}{short_name(row['name'])} ({dims}) params={row['params']}"
        stats = record.get(row["id"], {})
        if stats.get("output"):
            line += f"\n{'  ' * row['depth']}  out:  {_fmt(stats['output'])}"
        if stats.get("gradient"):
            line += f"\n{'  ' * row['depth']}  grad: {_fmt(stats['gradient'])}"
        print(line, file=out)
