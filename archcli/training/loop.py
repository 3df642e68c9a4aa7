"""The training loop: spaCy's `[training]` semantics over a Pipeline.

Batches come from the train corpus (reshuffled each epoch); every `eval_frequency` steps the
dev corpus is scored, a row is logged, `model-last` is saved and `model-best` when the weighted
score improves. Both saves are atomic, so an interrupted run leaves the last good models.
"""
import random
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import srsly
from thinc.api import Config, fix_random_seed

from ..config import dot_to_object, interpolate_config, resolve_block
from ..errors import ConfigError, CorpusError
from ..language import Pipeline
from ..pipeline.factories import FACTORIES
from ..scoring import weighted_score
from ..tokens.example import Example

TRAINING_DEFAULTS = {
    "seed": 0, "dropout": 0.1, "accumulate_gradient": 1, "patience": 1600, "max_epochs": 0,
    "max_steps": 20000, "eval_frequency": 200, "frozen_components": [], "annotating_components": [],
    "before_to_disk": None, "before_update": None, "gpu_allocator": None,
    "dev_corpus": "corpora.dev", "train_corpus": "corpora.train",
    "batcher": {"@batchers": "spacy.batch_by_words.v1", "discard_oversize": False, "tolerance": 0.2,
                "get_length": None,
                "size": {"@schedules": "compounding.v1", "start": 100, "stop": 1000, "compound": 1.001, "t": 0.0}},
    "logger": {"@loggers": "spacy.ConsoleLogger.v1", "progress_bar": False},
    "optimizer": {"@optimizers": "Adam.v1", "beta1": 0.9, "beta2": 0.999, "L2_is_weight_decay": True, "L2": 0.01,
                  "grad_clip": 1.0, "use_averages": False, "eps": 1e-8, "learn_rate": 0.001},
    "score_weights": {},
}


def combine_score_weights(nlp: Pipeline, overrides: Dict[str, Optional[float]]) -> Dict[str, Optional[float]]:
    """Components' default weights, overridden by `[training.score_weights]`, normalised to sum 1."""
    weights: Dict[str, Optional[float]] = {}
    for name, proc in nlp.pipeline:
        factory_name = nlp.config.get("components", {}).get(name, {}).get("factory")
        meta = FACTORIES.get(factory_name)
        if meta is not None:
            weights.update(meta.default_score_weights)
    weights.update(overrides or {})
    total = sum(w for w in weights.values() if w)
    return {k: (round(w / total, 2) if (w and total) else w) for k, w in weights.items()}


def resolve_training(config: Config) -> Tuple[Config, Dict[str, Any]]:
    interpolated = interpolate_config(config)
    if "training" not in interpolated:
        raise ConfigError("config has no [training] section")
    block = Config(TRAINING_DEFAULTS).merge(Config(interpolated["training"]))
    return interpolated, resolve_block(block, "training")


def train(
    config: Config,
    output_path: Optional[Path] = None,
    *,
    stdout: Optional[IO] = None,
    stderr: Optional[IO] = None,
) -> Pipeline:
    """Train the pipeline `config` describes; save model-best/model-last under `output_path`."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    interpolated, T = resolve_training(config)
    fix_random_seed(T["seed"])
    nlp = Pipeline.from_config(config)
    for key in ("frozen_components", "annotating_components"):
        for name in T[key]:
            if name not in nlp.pipe_names:
                raise ConfigError(f"'{name}' is not a component of the pipeline ({', '.join(nlp.pipe_names)})",
                                  where=f"training.{key}")
    _check_frozen_listeners(nlp, T)
    corpora = {"corpora": resolve_block(interpolated.get("corpora", {}), "corpora")}
    train_corpus = dot_to_object(corpora, T["train_corpus"])
    dev_corpus = dot_to_object(corpora, T["dev_corpus"])
    train_examples = list(train_corpus(nlp))
    dev_examples = list(dev_corpus(nlp))
    if not dev_examples:
        raise CorpusError("the dev corpus is empty", where=T["dev_corpus"])
    optimizer = nlp.initialize(lambda: train_examples, sgd=T["optimizer"])
    score_weights = combine_score_weights(nlp, T["score_weights"])
    nlp.meta["score_weights"] = score_weights
    nlp.meta["frozen_components"] = list(T["frozen_components"])
    setup_logger = T["logger"]
    log_step, finalize_logger = setup_logger(nlp, stdout, stderr)
    eval_log = None
    if output_path is not None:
        output_path = Path(output_path)
        output_path.mkdir(parents=True, exist_ok=True)
        eval_log = open(output_path / "training_log.jsonl", "w", encoding="utf8")

    def evaluate() -> Tuple[float, Dict[str, Any]]:
        scores = nlp.evaluate(dev_examples)
        return weighted_score(scores, score_weights), scores

    best: Dict[str, Any] = {"score": None, "step": 0, "scores": {}}
    timings = {"train_seconds": 0.0, "train_words": 0}
    run_start = time.perf_counter()
    try:
        for info in train_while_improving(nlp, optimizer, T, train_examples, evaluate, timings):
            if info["score"] is not None:
                improved = best["score"] is None or info["score"] > best["score"]
                if improved:
                    best.update(score=info["score"], step=info["step"], scores=info["other_scores"])
                info["checkpoints"] = {"best_step": best["step"], "best_score": best["score"]}
                if output_path is not None:
                    _save(nlp, output_path / "model-last", info, timings, T, optimizer)
                    if improved:
                        _save(nlp, output_path / "model-best", info, timings, T, optimizer)
                    eval_log.write(srsly.json_dumps(_log_record(info, timings)) + "\n")
                    eval_log.flush()
            log_step(info)
    finally:
        finalize_logger()
        if eval_log is not None:
            eval_log.close()
    nlp.meta["training"] = _timing_meta(timings, time.perf_counter() - run_start)
    nlp.meta["performance"] = best["scores"]
    return nlp


def _check_frozen_listeners(nlp: Pipeline, T: Dict[str, Any]) -> None:
    """A frozen tok2vec feeds its listeners only if it annotates the docs during training."""
    from ..pipeline.tok2vec import Tok2Vec

    frozen, annotating = set(T["frozen_components"]), set(T["annotating_components"])
    for name, proc in nlp.pipeline:
        if isinstance(proc, Tok2Vec) and name in frozen and name not in annotating:
            users = [c for c in proc.listener_map if c not in frozen]
            if users:
                raise ConfigError(
                    f"'{name}' is frozen but {', '.join(users)} listen(s) to it; add '{name}' to "
                    "training.annotating_components so its output reaches them",
                    where="training.frozen_components",
                )


def train_while_improving(
    nlp: Pipeline,
    optimizer,
    T: Dict[str, Any],
    train_examples: List[Example],
    evaluate: Callable[[], Tuple[float, Dict[str, Any]]],
    timings: Dict[str, Any],
) -> Iterator[Dict[str, Any]]:
    """Yield an info dict per step; `score` is set on evaluation steps."""
    dropouts = _as_schedule(T["dropout"])
    eval_frequency = max(int(T["eval_frequency"]), 1)
    accumulate = max(int(T["accumulate_gradient"]), 1)
    patience, max_steps = int(T["patience"]), int(T["max_steps"])
    exclude = set(T["frozen_components"])
    annotates = set(T["annotating_components"])
    losses: Dict[str, float] = {}
    results: List[Tuple[float, int]] = []
    words_seen = 0
    step_start = time.perf_counter()
    before_update = T.get("before_update")
    for step, (epoch, batch) in enumerate(_epochs(train_examples, T["batcher"], int(T["max_epochs"]))):
        if before_update is not None:
            before_update(nlp, {"step": step, "epoch": epoch})
        dropout = next(dropouts)
        for sub in _subdivide(batch, accumulate):
            nlp.update(sub, drop=dropout, losses=losses, exclude=exclude, annotates=annotates)
        nlp.finish_update(optimizer, exclude=exclude)
        optimizer.step_schedules()
        n_words = sum(len(eg) for eg in batch)
        words_seen += n_words
        timings["train_words"] += n_words
        timings["train_seconds"] += time.perf_counter() - step_start
        info: Dict[str, Any] = {
            "epoch": epoch, "step": step, "score": None, "other_scores": None, "losses": losses,
            "words": words_seen, "eval_frequency": eval_frequency,
        }
        if step % eval_frequency == 0:
            with nlp.use_params(optimizer.averages):
                score, other = evaluate()
            results.append((score, step))
            info.update(score=score, other_scores=other, seconds=timings["train_seconds"])
        yield info
        if info["score"] is not None:
            losses = {}
        best_score, neg_best_step = max((s, -st) for s, st in results) if results else (0.0, 0)
        if patience and step - (-neg_best_step) >= patience:
            break
        if max_steps and step >= max_steps:
            break
        step_start = time.perf_counter()


def _epochs(examples: List[Example], batcher, max_epochs: int) -> Iterator[Tuple[int, List[Example]]]:
    epoch = 0
    while max_epochs <= 0 or epoch < max_epochs:
        random.shuffle(examples)
        n_batches = 0
        for batch in batcher(examples):
            n_batches += 1
            yield epoch, batch
        if n_batches == 0:
            raise CorpusError("the training corpus produced no batches (is it empty?)")
        epoch += 1


def _subdivide(batch: List[Example], accumulate: int) -> Iterable[List[Example]]:
    if accumulate == 1:
        return [batch]
    size = max(len(batch) // accumulate, 1)
    return [batch[i : i + size] for i in range(0, len(batch), size)]


def _as_schedule(value) -> Iterator[float]:
    if isinstance(value, (int, float)):
        while True:
            yield float(value)
    yield from value


def _timing_meta(timings: Dict[str, Any], total_seconds: float) -> Dict[str, Any]:
    seconds = timings["train_seconds"]
    return {
        "train_words": timings["train_words"],
        "train_seconds": round(seconds, 3),
        "train_words_per_second": round(timings["train_words"] / seconds, 1) if seconds else 0.0,
        "total_seconds": round(total_seconds, 3),
    }


def _log_record(info: Dict[str, Any], timings: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "epoch": info["epoch"], "step": info["step"], "score": info["score"], "scores": info["other_scores"],
        "losses": dict(info["losses"]), "words": info["words"], "train_seconds": round(timings["train_seconds"], 3),
        "checkpoints": info.get("checkpoints"),
    }


def _save(nlp: Pipeline, path: Path, info: Dict[str, Any], timings: Dict[str, Any], T, optimizer) -> None:
    nlp.meta["performance"] = {k: v for k, v in info["other_scores"].items()}
    nlp.meta["performance"]["score"] = info["score"]
    nlp.meta["training"] = dict(_timing_meta(timings, 0.0), step=info["step"], epoch=info["epoch"])
    if T.get("before_to_disk"):
        nlp = T["before_to_disk"](nlp)
    with nlp.use_params(optimizer.averages):
        nlp.to_disk(path)
