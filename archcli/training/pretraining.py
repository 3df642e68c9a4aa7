"""`archcli pretrain`: train a tok2vec layer on raw text with a `[pretraining]` objective.

The `[pretraining]` section is read as spaCy users write it (and spaCy's defaults fill what it
leaves out). After every epoch (or every `n_save_epoch` epochs) the selected layer's weights go to
`model{epoch}.bin`, plus `model{epoch}.temp.bin` every `n_save_every` batches and `model-last.bin`
at the end, as `spacy pretrain` names them; each save also adds a row to `log.jsonl`. All files are
written to a temporary name and renamed into place, so none is ever half-written.
"""
import itertools
import math
import re
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import srsly
import tqdm
from thinc.api import Config, Model, Optimizer, fix_random_seed, set_dropout_rate
from wasabi import Printer
from wasabi import row as table_row

from ..config import dot_to_object, interpolate_config, resolve_block
from ..defaults import (PRETRAIN_CORPUS_DEFAULTS, PRETRAINING_DEFAULTS, default_pretraining_config, defaults,
                        render_sections)
from ..errors import ArchcliError, ConfigError, CorpusError
from ..fileio import check_output_path, make_output_dir, write_bytes_atomic
from ..ml.pretrain import get_loss
from ..tokens import Doc
from .init_tok2vec import get_tok2vec_ref, load_weights
from .initialize import check_system_and_initialize, dimension_mismatch, use_gpu_allocator

PRETRAINING_KEYS = tuple(PRETRAINING_DEFAULTS)
LOG_EVERY_WORDS = 10000
_EPOCH_FILE = re.compile(r"model(\d+)\.bin$")


def with_pretraining_defaults(config: Config) -> Config:
    """`config` with spaCy's default [pretraining] (and corpora.pretrain) under what it sets."""
    return default_pretraining_config().merge(config)


def add_pretraining_block(text: str, *, component: str = "tok2vec", layer: str = "") -> str:
    """Config text (as init-config writes it) with paths.raw_text, corpora.pretrain and [pretraining]."""
    block = render_sections({"pretraining": defaults(PRETRAINING_DEFAULTS, component=component, layer=layer)})
    if re.search(r"^\[pretraining\]\s*$", text, flags=re.M):
        text = re.sub(r"^\[pretraining\]\s*\n(?=\[|\Z)", lambda m: block + "\n", text, count=1, flags=re.M)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    text = re.sub(r"^\[paths\]\n", "[paths]\nraw_text = null\n", text, count=1, flags=re.M)
    corpus = render_sections({"corpora.pretrain": PRETRAIN_CORPUS_DEFAULTS}) + "\n"
    text = re.sub(r"^(?=\[corpora\.)", lambda m: corpus, text, count=1, flags=re.M)
    return text


def pretrain(
    config: Config,
    output_dir: Union[str, Path],
    *,
    resume_path: Optional[Union[str, Path]] = None,
    epoch_resume: Optional[int] = None,
    skip_last: bool = False,
    silent: bool = False,
    save_config: bool = False,
    stdout: Optional[IO] = None,
    stderr: Optional[IO] = None,
) -> Dict[str, Any]:
    """Pretrain the layer `[pretraining]` selects; return a summary (words, loss, words/s, files).

    Everything (settings, corpus, model, resume file) is checked before `output_dir` is touched;
    with `save_config`, the config as given is written to `output_dir/config.cfg` (atomically)
    only then, just before the first update, so a refused run leaves an earlier run's folder as it was.
    """
    config_text = Config(config).to_str() if save_config else None
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    msg = Printer(no_print=silent)
    output_dir = Path(output_dir)
    check_output_path(output_dir, directory=True)
    config = Config(config)
    if not config.get("pretraining"):
        raise ConfigError("the config has no [pretraining] settings; `archcli init-config --pretraining` "
                          "writes a block to start from", where="pretraining")
    _check_keys(config["pretraining"])
    config = with_pretraining_defaults(config)
    if "initialize" in config:
        config["initialize"]["init_tok2vec"] = None  # what we are about to create
    interpolated = interpolate_config(config)
    check_system_and_initialize(interpolated)
    training = interpolated.get("training", {}) or {}
    use_gpu_allocator(training.get("gpu_allocator"), "training.gpu_allocator")
    seed = training.get("seed", interpolated.get("system", {}).get("seed", 0))
    if seed is not None:
        fix_random_seed(int(seed))
    P = _resolve_pretraining(interpolated)

    from ..language import Pipeline
    from .initialize import load_vectors_into

    nlp = Pipeline.from_config(config)
    vectors = (interpolated.get("initialize", {}) or {}).get("vectors")
    if vectors:
        load_vectors_into(nlp, vectors)
    corpus = _resolve_corpus(interpolated, P["corpus"])
    batcher = P["batcher"]
    sample = _sample_docs(corpus, nlp)
    model = create_pretraining_model(nlp, P, sample)
    tok2vec = model.get_ref("tok2vec")
    optimizer: Optimizer = P["optimizer"]
    if resume_path is not None:
        epoch_resume = resume_model(tok2vec, Path(resume_path), epoch_resume, P)
        msg.info(f"Resuming from {resume_path} at epoch {epoch_resume}")
    elif epoch_resume is not None:
        raise ArchcliError("--epoch-resume needs --resume-path (the weights file to continue from)")
    else:
        epoch_resume = 0
    make_output_dir(output_dir)
    if config_text is not None:
        write_bytes_atomic(output_dir / "config.cfg", config_text.encode("utf8"))

    max_epochs = int(P["max_epochs"])
    n_save_every = P["n_save_every"]
    n_save_epoch = P["n_save_epoch"]
    tracker = ProgressTracker(LOG_EVERY_WORDS)
    saved: List[str] = []

    def save(epoch: int, *, temp: bool = False, last: bool = False) -> None:
        name = "model-last.bin" if last else f"model{epoch}{'.temp' if temp else ''}.bin"
        with model.use_params(optimizer.averages):
            write_bytes_atomic(output_dir / name, tok2vec.to_bytes())
        record = {"nr_word": tracker.nr_word, "loss": _finite(tracker.loss), "epoch_loss": _finite(tracker.epoch_loss),
                  "epoch": epoch, "file": name, "seconds": round(tracker.seconds, 3),
                  "words_per_second": round(tracker.words_per_second, 1)}
        append_log(output_dir / "log.jsonl", record)
        saved.append(name)

    every = f" - saving every {n_save_epoch} epochs" if n_save_epoch else ""
    msg.divider(f"Pre-training tok2vec layer - starting at epoch {epoch_resume}{every}")
    widths, aligns = (3, 12, 10, 8), ("r", "r", "r", "r")
    write = (lambda text: None) if silent else (lambda text: (stdout.write(text + "\n"), stdout.flush()))
    write(table_row(("E", "# WORDS", "LOSS", "W/S"), widths=widths, aligns=aligns))
    write(table_row(["-" * w for w in widths], widths=widths, aligns=aligns))
    if epoch_resume >= max_epochs:
        msg.warn(f"Nothing to do: resuming at epoch {epoch_resume}, but max_epochs is {max_epochs}")
    finished = False
    words_per_epoch: Optional[int] = None
    try:
        for epoch in range(epoch_resume, max_epochs):
            epoch_start = time.perf_counter()
            bar = tqdm.tqdm(total=words_per_epoch, unit="w", leave=False, file=stderr, disable=True if silent else None,
                            desc=f"Epoch {epoch}")
            try:
                for batch_id, batch in enumerate(batcher(corpus(nlp))):
                    docs = [doc for doc in ensure_docs(batch) if len(doc)]
                    if not docs:
                        continue
                    loss, n_scored = make_update(model, docs, optimizer)
                    n_words = sum(len(doc) for doc in docs)
                    bar.update(n_words)
                    if tracker.update(epoch, loss, n_scored, n_words):
                        write(table_row(tracker.row(), widths=widths, aligns=aligns))
                    if n_save_every and batch_id % n_save_every == 0:
                        save(epoch, temp=True)
            finally:
                bar.close()
            if tracker.words_this_epoch == 0:
                raise CorpusError("the pretraining corpus produced no documents to train on (check its "
                                  "min_length/max_length/limit)", where=P["corpus"])
            words_per_epoch = tracker.words_this_epoch
            if tracker.pending():
                write(table_row(tracker.row(), widths=widths, aligns=aligns))
            epoch_seconds = time.perf_counter() - epoch_start
            left = max_epochs - epoch - 1
            msg.text(f"Epoch {epoch}: {words_per_epoch} words in {epoch_seconds:.1f}s"
                     + (f"; {left} epoch(s) left, ETA {_duration(left * epoch_seconds)}" if left else ""))
            if not n_save_epoch or epoch % n_save_epoch == 0 or epoch == max_epochs - 1:
                save(epoch)
            tracker.end_epoch()
        finished = True
    except KeyboardInterrupt:
        if not skip_last:
            save(max_epochs, last=True)
        raise
    if finished and not skip_last:
        save(max_epochs, last=True)
    summary = {"nr_word": tracker.nr_word, "loss": tracker.loss, "seconds": round(tracker.seconds, 3),
               "words_per_second": round(tracker.words_per_second, 1), "files": saved,
               "epochs": list(range(epoch_resume, max_epochs))}
    msg.good(f"Pretrained on {tracker.nr_word} words in {tracker.seconds:.1f}s "
             f"({tracker.words_per_second:.0f} words/s); weights in {output_dir}")
    return summary


def create_pretraining_model(nlp, P: Dict[str, Any], sample: List[Doc]) -> Model:
    """Initialise the selected tok2vec layer on `sample`, and wrap it in the objective."""
    component, layer = P["component"], P["layer"] or ""
    tok2vec = get_tok2vec_ref(nlp, component, layer)
    try:
        tok2vec.initialize(X=sample)
    except ValueError as err:
        if not dimension_mismatch(err):
            raise
        raise ConfigError(f"could not initialise the tok2vec layer of component '{component}'"
                          + (f", layer '{layer}'" if layer else "") + f": {err}", where="pretraining.layer")
    model = P["objective"](nlp.vocab, tok2vec)
    model.initialize(X=sample)
    set_dropout_rate(model, float(P["dropout"]))
    return model


def make_update(model: Model, docs: List[Doc], optimizer: Optimizer) -> Tuple[float, int]:
    """One step on one batch; returns the summed loss and how many tokens it scored."""
    output, backprop = model.begin_update(docs)
    loss, n_scored, d_scores = get_loss(model, docs, output)
    backprop(d_scores)
    model.finish_update(optimizer)
    return loss, n_scored


def resume_model(tok2vec: Model, resume_path: Path, epoch_resume: Optional[int], P: Dict[str, Any]) -> int:
    """Load the weights to resume from; the epoch comes from `model{N}.bin` (N + 1) unless given."""
    if resume_path.is_dir():
        raise ArchcliError("--resume-path should be a weights file (model{N}.bin), not a directory",
                           where=str(resume_path))
    if not resume_path.exists():
        raise ArchcliError("--resume-path: weights file not found", where=str(resume_path))
    if epoch_resume is None:
        found = _EPOCH_FILE.search(resume_path.name)
        if not found:
            raise ArchcliError("cannot tell the epoch from this file name; pass --epoch-resume N (the epoch "
                               "to continue counting from)", where=str(resume_path))
        epoch_resume = int(found.group(1)) + 1
    if epoch_resume < 0:
        raise ArchcliError(f"--epoch-resume must be 0 or more, not {epoch_resume}")
    target = f"the tok2vec of component '{P['component']}'" + (f" (layer '{P['layer']}')" if P["layer"] else "")
    load_weights(tok2vec, resume_path.read_bytes(), where=str(resume_path), target=target)
    return epoch_resume


def ensure_docs(batch: Iterable[Any]) -> List[Doc]:
    return [item if isinstance(item, Doc) else item.reference for item in batch]


class ProgressTracker:
    """Words, loss and speed; `update` says when a table row is due (every `frequency` words)."""

    def __init__(self, frequency: int = LOG_EVERY_WORDS) -> None:
        self.frequency = frequency
        self.loss = 0.0
        self.epoch_loss = 0.0
        self.nr_word = 0
        self.words_this_epoch = 0
        self.seconds = 0.0
        self.epoch = 0
        self._start = time.perf_counter()
        self._since = {"loss": 0.0, "scored": 0, "words": 0, "time": self._start}

    def update(self, epoch: int, loss: float, n_scored: int, n_words: int) -> bool:
        self.epoch = epoch
        self.loss += loss
        self.epoch_loss += loss
        self.nr_word += n_words
        self.words_this_epoch += n_words
        self.seconds = time.perf_counter() - self._start
        self._since["loss"] += loss
        self._since["scored"] += n_scored
        self._since["words"] += n_words
        return self._since["words"] >= self.frequency

    def pending(self) -> bool:
        return self._since["words"] > 0

    def row(self) -> List[str]:
        """(epoch, words seen, loss per scored token since the last row, words/s since then)."""
        now = time.perf_counter()
        since = self._since
        per_token = since["loss"] / since["scored"] if since["scored"] else 0.0
        wps = since["words"] / max(now - since["time"], 1e-9)
        self._since = {"loss": 0.0, "scored": 0, "words": 0, "time": now}
        return [str(self.epoch), str(self.nr_word), f"{per_token:.4f}", str(int(wps))]

    def end_epoch(self) -> None:
        self.epoch_loss = 0.0
        self.words_this_epoch = 0

    @property
    def words_per_second(self) -> float:
        return self.nr_word / self.seconds if self.seconds else 0.0


def append_log(path: Path, record: Dict[str, Any]) -> None:
    """Add a line to log.jsonl by rewriting it atomically (it holds one line per saved file)."""
    lines = []
    if path.exists():
        lines = [line for line in path.read_text(encoding="utf8").splitlines() if _is_json(line)]
    lines.append(srsly.json_dumps(record))
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode("utf8"))


def _duration(seconds: float) -> str:
    """'1:02:03' (h:mm:ss), or '2d 1:02:03' past a day."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


def _finite(value: float) -> Optional[float]:
    """JSON has no NaN/inf: a diverged loss is logged as null."""
    return float(value) if math.isfinite(value) else None


def _is_json(line: str) -> bool:
    try:
        srsly.json_loads(line)
        return True
    except ValueError:
        return False


def _check_keys(block: Dict[str, Any]) -> None:
    unknown = [key for key in block if key not in PRETRAINING_KEYS]
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; [pretraining] takes "
                          f"{', '.join(PRETRAINING_KEYS)}", where=f"pretraining.{unknown[0]}")


def _resolve_pretraining(interpolated: Config) -> Dict[str, Any]:
    from .loop import check_batcher_settings, check_optimizer_settings

    block = dict(interpolated["pretraining"])
    check_batcher_settings(block.get("batcher"), "pretraining.batcher")
    check_optimizer_settings(block.get("optimizer"), "pretraining.optimizer")
    P: Dict[str, Any] = dict(resolve_block(block, "pretraining"))
    for key in ("max_epochs",):
        if not isinstance(P[key], int) or isinstance(P[key], bool) or P[key] < 0:
            raise ConfigError(f"must be a non-negative integer, not {P[key]!r}", where=f"pretraining.{key}")
    for key in ("n_save_every", "n_save_epoch"):
        value = P[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigError(f"must be null or a positive integer, not {value!r}", where=f"pretraining.{key}")
    if not isinstance(P["dropout"], (int, float)) or not 0.0 <= float(P["dropout"]) < 1.0:
        raise ConfigError(f"must be a number in [0, 1), not {P['dropout']!r}", where="pretraining.dropout")
    if not isinstance(P["corpus"], str):
        raise ConfigError("must be the dotted name of a reader block, e.g. \"corpora.pretrain\"",
                          where="pretraining.corpus")
    if not callable(P["objective"]):
        raise ConfigError("must be a pretraining objective such as spacy.PretrainCharacters.v1",
                          where="pretraining.objective")
    if not isinstance(P["layer"], str):
        raise ConfigError("must be a layer name, or \"\" for the component's whole model", where="pretraining.layer")
    return P


def _resolve_corpus(interpolated: Config, dotted: str) -> Callable:
    block = dot_to_object(interpolated, dotted)
    if not isinstance(block, dict):
        raise ConfigError(f"'{dotted}' is not a reader block", where="pretraining.corpus")
    # Resolved as the last part of its own dotted name, so an error names corpora.pretrain.max_length.
    parent, _, name = dotted.rpartition(".")
    corpus = resolve_block({name: block}, parent or name)[name]
    if getattr(corpus, "path", "") is None:
        raise ConfigError("no raw-text path given: set paths.raw_text (e.g. --paths.raw_text texts.jsonl)",
                          where=f"{dotted}.path")
    return corpus


def _sample_docs(corpus: Callable, nlp, n: int = 10) -> List[Doc]:
    """A few docs from the corpus to infer shapes; reading them also surfaces corpus errors early."""
    sample = [doc for doc in ensure_docs(itertools.islice(corpus(nlp), n)) if len(doc)]
    if not sample:
        sample = [nlp.make_doc("Give it a doc to infer shapes")]
    return sample
