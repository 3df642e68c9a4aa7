"""The training loop: spaCy's `[training]` semantics over a Pipeline.

Batches come from the train corpus (reshuffled each epoch); every `eval_frequency` steps the
dev corpus is scored, a row is logged, `model-last` is saved and `model-best` when the weighted
score improves; the last step is always evaluated and saved. Both saves are atomic, so an
interrupted run leaves the last good models, and a diverged one (NaN/inf) never overwrites them.
Settings are checked before any data is read or the output directory is touched.
"""
import math
import random
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy
import srsly
from thinc.api import Config, fix_random_seed
from wasabi import Printer

from ..config import dot_to_object, interpolate_config, resolve_block
from ..defaults import NLP_DEFAULTS, TRAINING_DEFAULTS, suggest, training_defaults
from ..errors import ArchcliError, ConfigError, CorpusError, ModelDirError
from ..fileio import check_output_path, clean_stale_siblings, make_output_dir
from ..language import Pipeline
from ..pipeline.factories import FACTORIES
from ..scoring import score_tokenization, weighted_score
from ..tokens.example import Example
from .initialize import check_gpu_allocator, check_system_and_initialize, use_gpu_allocator
from .resume import config_differences, read_state, restore_state, training_state, write_state
from .stream import STREAM_SHUFFLE_BUFFER, shuffled_within
from .distributed import Workers, allreduce_step, broadcast, check_in_sync, shard

__all__ = ["TRAINING_DEFAULTS", "train", "resolve_training", "validate_settings", "train_while_improving"]


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
    """The interpolated config and the resolved `[training]` block (defaults filled, all of
    [training]/[nlp]/[system] checked first, so a bad value fails before any data is read)."""
    interpolated = interpolate_config(config)
    if "training" not in interpolated:
        raise ConfigError("config has no [training] section")
    block = training_defaults().merge(Config(interpolated["training"]))
    validate_settings(interpolated, block)
    return interpolated, resolve_block(block, "training")


def train(
    config: Config,
    output_path: Optional[Path] = None,
    *,
    stdout: Optional[IO] = None,
    stderr: Optional[IO] = None,
    resume: bool = False,
    workers: Optional[Workers] = None,
) -> Pipeline:
    """Train the pipeline `config` describes; save model-best/model-last under `output_path`.

    `model-last` is written at every evaluation and when training ends (whatever stops it), so
    it always holds the final weights, with the training state; `model-best` when the weighted
    dev score improves. `resume` continues from `output_path/model-last`'s state, exactly (on
    CPU) as if the run had not stopped; the config may differ only in `training.max_steps`,
    `max_epochs` and `patience`.

    `workers` (a started torch.distributed group, see distributed.py) trains data-parallel: every
    rank runs this function; rank 0 alone reads the dev corpus, evaluates, prints, logs and saves.
    """
    main = workers is None or workers.is_main
    stdout = stdout or sys.stdout if main else _Discard()
    stderr = stderr or sys.stderr if main else _Discard()
    msg = Printer(no_print=not main)
    interpolated, T = resolve_training(config)
    if output_path is not None:
        output_path = Path(output_path)
        if main:
            check_output_path(output_path, directory=True, error=ModelDirError)
    saved_state = _shared_resume_state(config, output_path, workers) if resume else None
    use_gpu_allocator(T["gpu_allocator"], "training.gpu_allocator")
    fix_random_seed(T["seed"])
    nlp = Pipeline.from_config(config)
    for key in ("frozen_components", "annotating_components"):
        for name in T[key]:
            if name not in nlp.pipe_names:
                raise ConfigError(f"'{name}' is not a component of the pipeline ({', '.join(nlp.pipe_names)})",
                                  where=f"training.{key}")
    _check_frozen_listeners(nlp, T)
    # Said once the settings and the pipeline are known to be good, not before an error about them.
    if output_path is None:
        msg.warn("No output directory given: the trained pipeline will not be saved")
    else:
        msg.info(f"Saving to output directory: {output_path}")
    corpora = {"corpora": resolve_block(interpolated.get("corpora", {}), "corpora")}
    train_corpus = dot_to_object(corpora, T["train_corpus"])
    dev_corpus = dot_to_object(corpora, T["dev_corpus"])
    train_source = _train_source(train_corpus, nlp, T, stdout)
    dev_examples = _read_corpus(dev_corpus, nlp, "development", T["dev_corpus"], stdout) if main else []
    if main and not dev_examples:
        raise CorpusError("the dev corpus is empty", where=T["dev_corpus"])
    optimizer = nlp.initialize(train_source if callable(train_source) else lambda: train_source, sgd=T["optimizer"])
    if workers is not None:
        check_in_sync(workers, nlp, "after initialisation")
        msg.info(f"Training with {workers.world_size} workers ({workers.backend}): each step's batch is split "
                 "between them and their gradients summed")
    start = None
    if saved_state is not None:
        start = restore_state(nlp, optimizer, saved_state, str(output_path / "model-last"))
        msg.info(f"Resuming from {output_path / 'model-last'} after step {start['step']} (epoch {start['epoch']})")
    for line in missing_annotations(nlp, dev_examples, exclude=T["frozen_components"]) if main else ():
        msg.warn(f"The dev corpus ({T['dev_corpus']}) {line}: every evaluation will score it 0, so "
                 "model-best cannot improve on step 0")
    explicit = dict((interpolated["training"].get("score_weights") or {}))
    score_weights = combine_score_weights(nlp, T["score_weights"])
    if main:
        check_score_weights(nlp, dev_examples, score_weights, explicit, warn=msg.warn)
    nlp.meta["score_weights"] = score_weights
    nlp.meta["frozen_components"] = list(T["frozen_components"])
    setup_logger = T["logger"]
    log_step, finalize_logger = setup_logger(nlp, stdout, stderr) if main else (lambda info: None, lambda: None)
    eval_log: Optional[IO] = None
    if output_path is not None and main:
        make_output_dir(output_path, error=ModelDirError)
        for name in ("model-best", "model-last"):
            clean_stale_siblings(output_path / name)
    else:
        output_path = None  # the other ranks write nothing

    if workers is not None:  # the workers' weights are compared after initialisation and at every evaluation
        nlp.meta["distributed"] = {"workers": workers.world_size, "backend": workers.backend,
                                   "weights_in_sync_checks": 1}

    def evaluate() -> Tuple[float, Dict[str, Any]]:
        result = None
        if main:
            scores = nlp.evaluate(dev_examples)
            result = (weighted_score(scores, score_weights), scores)
        if workers is not None:
            nlp.meta["distributed"]["peak_rss_mib"] = check_in_sync(workers, nlp, "at an evaluation")
            nlp.meta["distributed"]["weights_in_sync_checks"] += 1  # saved with the checkpoints
            result = broadcast(workers, result, "the evaluation (rank 0 scores the dev set while the others wait)")
        return result

    best: Dict[str, Any] = dict(start["best"]) if start else {"score": None, "step": 0, "scores": {}}
    timings = dict(start["timings"]) if start else {"train_seconds": 0.0, "train_words": 0}
    if start is not None and output_path is not None:
        # The log's rows up to the checkpoint; rows a killed run wrote after it are replayed.
        eval_log = _open_log(output_path / "training_log.jsonl", keep_until_step=start["step"])
    run_start = time.perf_counter()
    try:
        for info in train_while_improving(nlp, optimizer, T, train_source, evaluate, timings, start=start,
                                          workers=workers):
            if info["score"] is not None:
                improved = best["score"] is None or info["score"] > best["score"]
                if improved:
                    best.update(score=info["score"], step=info["step"], scores=info["other_scores"])
                info["checkpoints"] = {"best_step": best["step"], "best_score": best["score"]}
                if output_path is not None:
                    # The log row first: a resume drops rows past its checkpoint, never misses one.
                    # Opened at the first evaluation, so a run that fails earlier leaves the last log.
                    eval_log = eval_log or _open_log(output_path / "training_log.jsonl")
                    _write_log(eval_log, output_path / "training_log.jsonl", _log_record(info, timings))
                    progress = dict(info.pop("resume"), best=best, timings=timings, epoch=info["epoch"])
                    state = training_state(nlp, optimizer, progress)  # live weights, not the averages
                    _save(nlp, output_path / "model-last", info, timings, T, optimizer,
                          extra=lambda tmp: write_state(tmp, state, config))
                    if improved:
                        _save(nlp, output_path / "model-best", info, timings, T, optimizer)
            info.pop("resume", None)
            log_step(info)
    finally:
        finalize_logger()
        if eval_log is not None:
            eval_log.close()
    nlp.meta["training"] = _timing_meta(timings, time.perf_counter() - run_start)
    if workers is not None:
        check_in_sync(workers, nlp, "at the end of training")
    nlp.meta["performance"] = best["scores"]
    return nlp


class _Discard:
    """Where the output of ranks other than 0 goes."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _shared_resume_state(config: Config, output_path: Optional[Path], workers: Optional[Workers]) -> Dict[str, Any]:
    """The checkpoint's state, read by rank 0 and sent to the others (which may be on machines
    without the output directory); rank 0's refusal stops every rank."""
    if workers is None:
        return _read_resume_state(config, output_path)
    state, error = None, None
    if workers.is_main:
        try:
            state = _read_resume_state(config, output_path)
        except ArchcliError as err:
            error = err
    state, failed = broadcast(workers, (state, error is not None), "sending the resume state")
    if error is not None:
        raise error
    if failed:
        raise ArchcliError("stopped, as rank 0 could not resume (its message says why)")
    return state


def _read_resume_state(config: Config, output_path: Optional[Path]) -> Dict[str, Any]:
    """The saved state of `output_path/model-last`, refused when there is none or the config
    changed in anything but how long training goes on."""
    if output_path is None:
        raise ArchcliError("--resume needs --output: the directory whose model-last to continue from")
    state, saved_config = read_state(output_path / "model-last")
    changed = config_differences(saved_config, config)
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ConfigError(f"the config differs from the one the checkpoint was trained with ({shown}); a resumed "
                          "run may change only training.max_steps, max_epochs and patience",
                          where=str(output_path / "model-last"))
    return state


class TrainingDiverged(ArchcliError):
    """The loss or a gradient became NaN/inf: the weights are lost, the saved models are not."""


def validate_settings(interpolated: Dict[str, Any], training: Dict[str, Any]) -> None:
    """Types and ranges of [training] (defaults filled), [nlp] and [system], naming the key."""
    system = interpolated.get("system") or {}
    if "seed" in system:  # first: training.seed is usually ${system.seed}
        _int(system, "system", "seed", 0, optional=True)
    check_system_and_initialize(interpolated)
    unknown = [key for key in training if key not in TRAINING_DEFAULTS]
    if unknown:
        raise ConfigError(f"unknown setting.{suggest(unknown[0], TRAINING_DEFAULTS)}", where=f"training.{unknown[0]}")
    check_gpu_allocator(training["gpu_allocator"], "training.gpu_allocator")
    _int(training, "training", "seed", 0, optional=True)
    _int(training, "training", "accumulate_gradient", 1)
    _int(training, "training", "patience", 0)
    _check_max_epochs(training["max_epochs"])
    _int(training, "training", "max_steps", 0)
    _int(training, "training", "eval_frequency", 1)
    dropout = training["dropout"]
    if not isinstance(dropout, dict) and not (_is_number(dropout) and 0.0 <= dropout < 1.0):
        raise ConfigError(f"must be a number in [0, 1) or a schedule, not {dropout!r}", where="training.dropout")
    for key in ("frozen_components", "annotating_components"):
        value = training[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"must be a list of component names, not {value!r}", where=f"training.{key}")
    for key in ("train_corpus", "dev_corpus"):
        if not isinstance(training[key], str):
            raise ConfigError(f"must be the dotted name of a reader block, not {training[key]!r}",
                              where=f"training.{key}")
    weights = training["score_weights"]
    if not isinstance(weights, dict):
        raise ConfigError("must be a section of score names and weights", where="training.score_weights")
    for key, value in weights.items():
        if value is not None and not (_is_number(value) and value >= 0):
            raise ConfigError(f"must be a non-negative number or null, not {value!r}",
                              where=f"training.score_weights.{key}")
    batcher = training["batcher"]
    check_batcher_settings(batcher, "training.batcher")
    check_optimizer_settings(training["optimizer"], "training.optimizer")
    size = batcher.get("size") if isinstance(batcher, dict) else None
    if size is not None and not isinstance(size, dict) and not (_is_number(size) and size > 0):
        raise ConfigError(f"must be a positive number or a schedule, not {size!r}", where="training.batcher.size")
    if isinstance(size, dict):
        for key in ("start", "stop"):
            if key in size and not (_is_number(size[key]) and size[key] > 0):
                raise ConfigError(f"must be a positive number, not {size[key]!r}", where=f"training.batcher.size.{key}")
    nlp_block = interpolated.get("nlp") or {}
    unknown = [key for key in nlp_block if key not in NLP_DEFAULTS]
    if unknown:
        raise ConfigError(f"unknown setting.{suggest(unknown[0], NLP_DEFAULTS)}", where=f"nlp.{unknown[0]}")
    if "batch_size" in nlp_block:
        _int(nlp_block, "nlp", "batch_size", 1)
    for key in ("before_creation", "after_creation", "after_pipeline_creation"):
        if nlp_block.get(key) is not None:
            raise ConfigError("creation callbacks are not supported by archcli; set it to null", where=f"nlp.{key}")
    for key in ("pipeline", "disabled"):
        value = nlp_block.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"must be a list of component names, not {value!r}", where=f"nlp.{key}")


def _check_max_epochs(value: Any) -> None:
    """0 is "no limit" as in spaCy; -1 streams the train corpus (also without a limit)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < -1:
        raise ConfigError(f"must be a non-negative integer (0: no limit), or -1 to stream the train corpus, not "
                          f"{value!r}", where="training.max_epochs")


# Optimizer settings given as plain numbers, with the range thinc's optimizers can use:
# (test, what the message says it must be). A schedule (a block) or a list is left to thinc.
_OPTIMIZER_RANGES: Dict[str, Tuple[Callable[[float], bool], str]] = {
    "learn_rate": (lambda v: v > 0, "a positive number"),
    "L2": (lambda v: v >= 0, "a non-negative number"),
    "grad_clip": (lambda v: v >= 0, "a non-negative number (0: no clipping)"),
    "beta1": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "beta2": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "eps": (lambda v: v > 0, "a positive number"),
}


def check_optimizer_settings(block: Any, where: str) -> None:
    """The optimizer's numeric settings (`learn_rate`, `L2`, `grad_clip`, `beta1`, `beta2`,
    `eps`): a number in range or a schedule, refused naming the key (`training.optimizer.L2`)."""
    if not isinstance(block, dict):
        return
    for key, (in_range, what) in _OPTIMIZER_RANGES.items():
        if key not in block:
            continue
        value = block[key]
        if isinstance(value, (dict, list)):
            continue  # a schedule, or thinc's list of values
        if not _is_number(value):
            raise ConfigError(f"must be a number or a schedule, not {value!r}", where=f"{where}.{key}")
        if not in_range(value):
            raise ConfigError(f"must be {what} or a schedule, not {value!r}", where=f"{where}.{key}")


def check_batcher_settings(block: Any, where: str) -> None:
    """A batcher's `tolerance` (the share a batch may run over its size) is a non-negative number."""
    if not isinstance(block, dict) or "tolerance" not in block:
        return
    value = block["tolerance"]
    if not isinstance(value, dict) and not (_is_number(value) and value >= 0):
        raise ConfigError(f"must be a non-negative number, not {value!r}", where=f"{where}.tolerance")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(block: Dict[str, Any], section: str, key: str, minimum: int, *, optional: bool = False) -> None:
    value = block[key]
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ConfigError(f"must be {kind}, not {value!r}", where=f"{section}.{key}")


def _train_source(corpus: Callable, nlp: Pipeline, T: Dict[str, Any], stdout: IO) -> Union[List[Example], Callable[[], Iterator[Example]]]:
    """The train examples in memory, or with `max_epochs = -1` (spaCy's streaming mode) a function
    that reads them afresh, so memory does not grow with the corpus."""
    if int(T["max_epochs"]) != -1:
        return _read_corpus(corpus, nlp, "training", T["train_corpus"], stdout)
    path = getattr(corpus, "path", None)
    stdout.write(f"Streaming training corpus ({T['train_corpus']}{f': {path}' if path else ''}): read lazily "
                 f"every epoch (training.max_epochs = -1), shuffled within a buffer of {STREAM_SHUFFLE_BUFFER} "
                 "examples\n")
    stdout.flush()
    return lambda: corpus(nlp)


def _read_corpus(corpus: Callable, nlp: Pipeline, what: str, where: str, stdout: IO) -> List[Example]:
    path = getattr(corpus, "path", None)
    stdout.write(f"Reading {what} corpus ({where}{f': {path}' if path else ''})…\n")
    stdout.flush()
    start = time.perf_counter()
    examples = list(corpus(nlp))
    n_words = sum(len(eg) for eg in examples)
    stdout.write(f"  {len(examples)} examples, {n_words} words ({time.perf_counter() - start:.1f}s)\n")
    stdout.flush()
    return examples


# What each component is scored on, as a test on a gold Doc.
ANNOTATIONS: Dict[str, Tuple[str, Callable[[Any, Any], bool]]] = {
    "tagger": ("tag", lambda proc, doc: doc.has_annotation("TAG")),
    "parser": ("dependency", lambda proc, doc: doc.has_annotation("DEP")),
    "ner": ("entity", lambda proc, doc: doc.has_annotation("ENT_IOB")),
    "textcat": ("category (cats)", lambda proc, doc: bool(doc.cats)),
    "textcat_multilabel": ("category (cats)", lambda proc, doc: bool(doc.cats)),
    "spancat": ("span", lambda proc, doc: bool(doc.spans.get(proc.key))),
}


def missing_annotations(nlp: Pipeline, examples: List[Example], exclude: Iterable[str] = ()) -> List[str]:
    """'has no tag annotation, which 'tagger' scores' for each component the examples cannot score."""
    lines = []
    for name, proc in nlp.pipeline:
        factory_name = nlp.config.get("components", {}).get(name, {}).get("factory")
        if name in set(exclude) or factory_name not in ANNOTATIONS:
            continue
        what, has = ANNOTATIONS[factory_name]
        if not any(has(proc, eg.reference) for eg in examples):
            key = f" '{proc.key}'" if factory_name == "spancat" else ""
            lines.append(f"has no {what}{key} annotation, which '{name}' is scored on")
    return lines


def check_score_weights(nlp: Pipeline, examples: List[Example], weights: Dict[str, Optional[float]],
                        explicit: Dict[str, Any], warn: Callable[[str], Any]) -> None:
    """A non-zero weight on a score no component produces: an error when [training.score_weights]
    sets it (with the closest real key), a warning when a component's default brings it. Zero and
    null weights change nothing (spaCy writes some for keys its scorers never produce)."""
    produced = {"speed"}
    gold = [Example(eg.reference, eg.reference, eg.source) for eg in examples[:50]]
    produced.update(score_tokenization(gold))
    for name, proc in nlp.pipeline:
        factory_name = nlp.config.get("components", {}).get(name, {}).get("factory")
        meta = FACTORIES.get(factory_name)
        if meta is not None and factory_name != "spancat":
            produced.update(meta.default_score_weights)
        produced.update(proc.score(gold))
    for key, weight in weights.items():
        if key in produced or not weight:
            continue
        if key in explicit:
            raise ConfigError(f"no component produces a score named '{key}'.{suggest(key, produced)}",
                              where=f"training.score_weights.{key}")
        warn(f"The score weight '{key}' names a score no component produces; it is ignored")


def _check_frozen_listeners(nlp: Pipeline, T: Dict[str, Any]) -> None:
    """A frozen tok2vec or transformer feeds its listeners only if it annotates the docs during training."""
    from ..pipeline.listened import ListenedPipe

    frozen, annotating = set(T["frozen_components"]), set(T["annotating_components"])
    for name, proc in nlp.pipeline:
        if isinstance(proc, ListenedPipe) and name in frozen and name not in annotating:
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
    train_examples: Union[List[Example], Callable[[], Iterable[Example]]],
    evaluate: Callable[[], Tuple[float, Dict[str, Any]]],
    timings: Dict[str, Any],
    start: Optional[Dict[str, Any]] = None,
    workers: Optional[Workers] = None,
) -> Iterator[Dict[str, Any]]:
    """Yield an info dict per step; `score` is set on evaluation steps and on the last step,
    with `resume` (what a checkpoint needs to continue: the stream's seed, the step, the
    evaluation history, the words seen).

    `start` (a checkpoint's progress) replays the batch stream and the schedules up to its step
    without training, so the run goes on with exactly the batches and rates it would have had.
    A non-finite loss or gradient stops training at once (before the optimizer applies it),
    raising TrainingDiverged naming the step and component. With `workers`, each rank updates on
    its shard of every batch and the gradients and losses are summed before the optimizer step.
    """
    dropouts = _as_schedule(T["dropout"])
    eval_frequency = max(int(T["eval_frequency"]), 1)
    accumulate = max(int(T["accumulate_gradient"]), 1)
    patience, max_steps = int(T["patience"]), int(T["max_steps"])
    exclude = set(T["frozen_components"])
    annotates = set(T["annotating_components"])
    losses: Dict[str, float] = {}
    results: List[Tuple[float, int]] = [tuple(r) for r in start["results"]] if start else []  # type: ignore
    words_seen = start["words"] if start else 0
    # The stream's own seed, drawn once: each epoch's order depends on it and the epoch only, not
    # on how much of the global random stream the updates used, so a resume can replay it.
    shuffle_seed = start["shuffle_seed"] if start else random.getrandbits(64)
    resumed_after = start["step"] if start else -1
    step_start = time.perf_counter()
    before_update = T.get("before_update")
    if workers is not None and isinstance(train_examples, list) and len(train_examples) < workers.world_size:
        raise ConfigError(f"the train corpus has {len(train_examples)} example(s), fewer than the "
                          f"{workers.world_size} workers: some would never train; use fewer workers",
                          where=T["train_corpus"])
    warned_small = [False]
    batches = _with_last(_epochs(train_examples, T["batcher"], int(T["max_epochs"]), shuffle_seed))
    for step, ((epoch, batch), last_batch) in enumerate(batches):
        if step <= resumed_after:  # replaying up to the checkpoint
            next(dropouts)
            optimizer.step_schedules()
            step_start = time.perf_counter()
            continue
        if before_update is not None:
            before_update(nlp, {"step": step, "epoch": epoch})
        dropout = next(dropouts)
        # One worker adds into `losses` as it goes; several sum this step's losses first.
        step_losses: Dict[str, float] = losses if workers is None else {}
        own = batch if workers is None else _worker_shard(batch, workers, step, warned_small)
        # Overflow is reported once, by _check_finite naming the step and component, not as
        # a numpy warning per operation.
        with numpy.errstate(over="ignore", invalid="ignore"):
            for sub in (_subdivide(own, accumulate) if own else ()):
                nlp.update(sub, drop=dropout, losses=step_losses, exclude=exclude, annotates=annotates)
        if workers is not None:
            trained = [name for name, proc in nlp.pipeline if name not in exclude and proc.is_trainable]
            reduce_start = time.perf_counter()
            summed = allreduce_step(workers, nlp, trained, {name: step_losses.get(name, 0.0) for name in trained})
            # Includes waiting for the slowest worker: what synchronising costs this rank.
            timings["allreduce_seconds"] = timings.get("allreduce_seconds", 0.0) + time.perf_counter() - reduce_start
            for name, value in summed.items():
                losses[name] = losses.get(name, 0.0) + value
        _check_finite(nlp, losses, exclude, step)
        with numpy.errstate(over="ignore", invalid="ignore"):  # an overflowing step: caught at the next loss
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
        stop = last_batch or bool(max_steps and step >= max_steps)
        out_of_patience = bool(patience and step - _best_step(results) >= patience)
        # The step on which patience runs out is evaluated too, so model-last is final.
        if step % eval_frequency == 0 or stop or out_of_patience:
            with nlp.use_params(optimizer.averages):
                score, other = evaluate()
            results.append((score, step))
            info.update(score=score, other_scores=other, seconds=timings["train_seconds"],
                        resume={"shuffle_seed": shuffle_seed, "step": step, "results": [list(r) for r in results],
                                "words": words_seen})
        yield info
        if info["score"] is not None:
            losses = {}
        if stop or (patience and step - _best_step(results) >= patience):
            break
        step_start = time.perf_counter()


def _worker_shard(batch: List[Example], workers: Workers, step: int, warned: List[bool]) -> List[Example]:
    """This rank's part of the global batch. A batch of fewer examples than workers leaves some
    idle for the step (the sum of the gradients is the same, only slower): said once."""
    if len(batch) < workers.world_size and not warned[0] and workers.is_main:
        warned[0] = True
        Printer().warn(f"Step {step}: a batch of {len(batch)} example(s) for {workers.world_size} workers, so some "
                       "sit out such steps (same result, less speed-up); batches that small come from "
                       "training.batcher.size (a compounding size's start) or very long docs")
    return shard(batch, workers.rank, workers.world_size)


def _best_step(results: List[Tuple[float, int]]) -> int:
    """The step of the best score so far (the earliest, on a tie); 0 before any evaluation."""
    return -max((score, -step) for score, step in results)[1] if results else 0


def _with_last(items: Iterable[Any]) -> Iterator[Tuple[Any, bool]]:
    """(item, is_last) pairs, looking one item ahead."""
    iterator = iter(items)
    try:
        previous = next(iterator)
    except StopIteration:
        return
    for item in iterator:
        yield previous, False
        previous = item
    yield previous, True


def _check_finite(nlp: Pipeline, losses: Dict[str, float], exclude: Iterable[str], step: int) -> None:
    """Raise at the step where a loss or gradient stops being finite, naming the component.

    The losses are checked every step; a component's gradients with one reduction on its device
    and one transfer (not a sync per parameter), and walked one by one only to name a bad one."""
    hint = ("training diverged; model-best/model-last keep the last finite weights. Lower "
            "training.optimizer.learn_rate (or check the data)")
    for name, loss in losses.items():
        if not math.isfinite(float(loss)):
            raise TrainingDiverged(f"step {step}: the loss of component '{name}' is {loss}: {hint}")
    exclude = set(exclude)
    for name, proc in nlp.pipeline:
        if name in exclude or not proc.is_trainable or _all_finite(proc.model, grads=True):
            continue
        bad = _first_nonfinite(proc.model, grads=True)
        if bad is not None:
            raise TrainingDiverged(f"step {step}: a gradient of component '{name}' ({bad}) is not finite: {hint}")


def _arrays(model, *, grads: bool) -> Iterator[Tuple[str, Any]]:
    """(layer.param, array) for each parameter (or gradient) `model` holds."""
    for node in model.walk():
        for param in node.param_names:
            if grads and node.has_grad(param):
                yield f"{node.name}.{param}", node.get_grad(param)
            elif not grads and node.has_param(param):
                yield f"{node.name}.{param}", node.get_param(param)


def _all_finite(model, *, grads: bool = False) -> bool:
    """Whether every parameter (or gradient) is finite: per-array flags computed on the
    model's device, combined there, and read back once."""
    xp = model.ops.xp
    flags = [xp.isfinite(array).all() for _, array in _arrays(model, grads=grads) if array.size]
    return not flags or bool(xp.stack(flags).all())


def _first_nonfinite(model, *, grads: bool = False) -> Optional[str]:
    """The name of the first parameter (or gradient) holding a NaN or inf, else None."""
    for name, array in _arrays(model, grads=grads):
        if array.size and not bool(model.ops.xp.isfinite(array).all()):
            return name
    return None


def nonfinite_weights(nlp: Pipeline) -> Optional[str]:
    """'component: layer.param' for the first weight that is NaN or inf, else None."""
    for name, proc in nlp.components:
        model = getattr(proc, "model", None)
        if model is not None and hasattr(model, "walk"):
            bad = None if _all_finite(model) else _first_nonfinite(model)
            if bad is not None:
                return f"{name}: {bad}"
    return None


def _epochs(source: Union[List[Example], Callable[[], Iterable[Example]]], batcher, max_epochs: int,
            shuffle_seed: int) -> Iterator[Tuple[int, List[Example]]]:
    """(epoch, batch) pairs: the examples reshuffled every epoch, or a streamed corpus (a function
    reading it) shuffled within a bounded buffer; -1 and 0 both mean no epoch limit."""
    epoch = 0
    while max_epochs <= 0 or epoch < max_epochs:
        rng = random.Random(f"{shuffle_seed}:{epoch}")
        if callable(source):
            examples: Iterable[Example] = shuffled_within(source(), STREAM_SHUFFLE_BUFFER, rng)
        else:
            rng.shuffle(source)
            examples = source
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
        **({"allreduce_seconds": round(timings["allreduce_seconds"], 3)} if "allreduce_seconds" in timings else {}),
    }


def _log_record(info: Dict[str, Any], timings: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "epoch": info["epoch"], "step": info["step"], "score": info["score"], "scores": info["other_scores"],
        "losses": dict(info["losses"]), "words": info["words"], "train_seconds": round(timings["train_seconds"], 3),
        "checkpoints": info.get("checkpoints"),
    }


def _save(nlp: Pipeline, path: Path, info: Dict[str, Any], timings: Dict[str, Any], T, optimizer,
          extra: Optional[Callable[[Path], None]] = None) -> None:
    """Write one model directory; never a model with NaN/inf weights, and a failed write
    (disk full, permissions) is one message with its temporary directory removed."""
    nlp.meta["performance"] = {k: v for k, v in info["other_scores"].items()}
    nlp.meta["performance"]["score"] = info["score"]
    nlp.meta["training"] = dict(_timing_meta(timings, 0.0), step=info["step"], epoch=info["epoch"])
    if T.get("before_to_disk"):
        nlp = T["before_to_disk"](nlp)
    with nlp.use_params(optimizer.averages):
        bad = nonfinite_weights(nlp)
        if bad is not None:
            raise TrainingDiverged(f"step {info['step']}: weight {bad} is not finite; {path.name} was not "
                                   "overwritten. Lower training.optimizer.learn_rate")
        try:
            nlp.to_disk(path, extra=extra)
        except OSError as err:  # the temporary directory is already removed (fileio.atomic_dir)
            raise ModelDirError(f"cannot save the model: {err.strerror or err}; the previous {path.name} is "
                                "unchanged", where=str(path)) from None


def _open_log(path: Path, keep_until_step: Optional[int] = None) -> IO:
    """A new log, or with `keep_until_step` the existing one cut after that step's row, to append to."""
    try:
        if keep_until_step is None or not path.exists():
            return open(path, "w", encoding="utf8")
        kept = [line for line in path.read_text(encoding="utf8").splitlines(keepends=True)
                if (_log_step(line) if line.strip() else None) is not None and _log_step(line) <= keep_until_step]
        log = open(path, "w", encoding="utf8")
        log.writelines(kept)
        log.flush()
        return log
    except OSError as err:
        raise ModelDirError(f"cannot write the training log: {err.strerror}", where=str(path)) from None


def _log_step(line: str) -> Optional[int]:
    """The step of a log row; None for a row a killed process left half-written."""
    try:
        record = srsly.json_loads(line)
    except ValueError:
        return None
    step = record.get("step") if isinstance(record, dict) else None
    return step if isinstance(step, int) else None


def _write_log(log: IO, path: Path, record: Dict[str, Any]) -> None:
    try:
        log.write(srsly.json_dumps(record) + "\n")
        log.flush()
    except OSError as err:
        raise ModelDirError(f"cannot write the training log: {err.strerror}", where=str(path)) from None
