"""The Pipeline ("nlp"): vocab, tokenizer and components built from a config.

It runs components over docs, updates them on batches of examples, scores them, and saves
itself as a model directory (config.cfg, meta.json, one folder of weights per component).
"""
import contextlib
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import srsly
from thinc.api import Config, Model, Optimizer

from . import __version__
from .config import check_registered_names, interpolate_config, load_config, resolve_block
from .errors import ArchcliError, ConfigError, ModelDirError
from .fileio import atomic_dir, backups_of, read_json
from .ops import select_cpu_gemm
from .pipeline.base import Pipe
from .pipeline.factories import FACTORIES, get_factory
from .ml.transformers import name_config_keys
from .pipeline.listened import ListenedPipe, check_listeners, listener_blocks
from ._registry import registry
from .scoring import score_tokenization, score_token_attr
from .tokens import Doc, Tokenizer, Vocab
from .tokens.tokenizer import rules_from_dict
from .tokens.example import Example


TOKENIZER_FILE = "tokenizer.json"


@registry.tokenizers("spacy.Tokenizer.v1")
def create_tokenizer() -> Callable[["Pipeline"], Tokenizer]:
    def make(nlp: "Pipeline") -> Tokenizer:
        return Tokenizer(nlp.vocab)

    return make


registry.tokenizers.register("archcli.Tokenizer.v1", func=create_tokenizer)


@registry.vectors("spacy.Vectors.v1")
def create_vectors() -> Callable[[Vocab], None]:
    return lambda vocab: None


class Pipeline:
    def __init__(self, vocab: Optional[Vocab] = None, *, config: Optional[Config] = None, batch_size: int = 1000) -> None:
        select_cpu_gemm()  # the CPU gemm backend is chosen where models are built, not on import
        self.vocab = vocab if vocab is not None else Vocab()
        self.tokenizer = Tokenizer(self.vocab)
        self.components: List[Tuple[str, Pipe]] = []
        self.disabled: List[str] = []
        self.config = config if config is not None else Config()
        self.batch_size = batch_size
        self.meta: Dict[str, Any] = {}

    # --- building -----------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Config, *, where: str = "config", exclude: Iterable[str] = ()) -> "Pipeline":
        """Build the pipeline that `[nlp]` and `[components]` describe (weights uninitialised).

        Components named in `exclude` are not built and not part of the pipeline (nor of its
        config), as with spaCy's `exclude`.
        """
        filled = Config(config)
        exclude = list(exclude)
        resolved = interpolate_config(config, where=where)
        if "nlp" not in resolved:
            raise ConfigError("config has no [nlp] section", where=where)
        nlp_cfg = resolved["nlp"]
        pipe_names = nlp_cfg.get("pipeline", [])
        if not isinstance(pipe_names, list):
            raise ConfigError("must be a list of component names", where="nlp.pipeline")
        repeated = sorted({name for name in pipe_names if pipe_names.count(name) > 1})
        if repeated:
            raise ConfigError(f"names {', '.join(map(repr, repeated))} more than once; component names must be "
                              "unique (give each its own [components.NAME] block)", where="nlp.pipeline")
        components = resolved.get("components", {})
        _check_exclude(exclude, pipe_names, components)
        tokenizer_block = nlp_cfg.get("tokenizer") or {"@tokenizers": "spacy.Tokenizer.v1"}
        check_registered_names({"tokenizer": tokenizer_block}, "nlp")
        nlp = cls(config=filled, batch_size=int(nlp_cfg.get("batch_size", 1000) or 1000))
        nlp.tokenizer = resolve_block({"t": tokenizer_block}, "nlp")["t"](nlp)
        for name in pipe_names:
            if name not in components:
                raise ConfigError(f"component '{name}' is in nlp.pipeline but has no [components.{name}] block",
                                  where="nlp.pipeline")
            if name in exclude:
                continue
            block = dict(components[name])
            if "source" in block and "factory" not in block:
                raise ConfigError("sourcing components from another pipeline is not supported yet; use factory = …",
                                  where=f"components.{name}.source")
            if "factory" not in block:
                raise ConfigError("missing 'factory' setting", where=f"components.{name}")
            factory_name = block.pop("factory")
            meta = _factory_or_error(factory_name, name)
            merged = meta.default_config.merge(Config(block))
            proc = meta.func(nlp, name, **resolve_block(merged, f"components.{name}"))
            nlp.components.append((name, proc))
            if "components" in filled and name in filled["components"]:
                raw = Config(filled["components"][name])
                raw.pop("factory", None)
                filled["components"][name] = Config({"factory": factory_name}).merge(meta.default_config.merge(raw))
        nlp.disabled = [n for n in nlp_cfg.get("disabled", []) or [] if n not in exclude]
        if exclude:
            nlp.config = _config_without(filled, exclude, where)
        nlp._link_components()
        return nlp

    def _link_components(self) -> None:
        """Connect every tok2vec or transformer component to the listeners in the components after it."""
        check_listeners(self.components, self.config)
        blocks = self.config.get("components", {}) if isinstance(self.config, dict) else {}
        for name, proc in self.components:
            if isinstance(getattr(proc, "model", None), Model):
                name_config_keys(proc.model, blocks.get(name), f"components.{name}")
        for i, (name, proc) in enumerate(self.components):
            if isinstance(proc, ListenedPipe):
                proc.listener_map = {}
                for _, downstream in self.components[i + 1 :]:
                    proc.find_listeners(downstream)

    # --- access -----------------------------------------------------------------------------
    @property
    def pipe_names(self) -> List[str]:
        return [name for name, _ in self.components]

    @property
    def pipeline(self) -> List[Tuple[str, Pipe]]:
        return [(n, p) for n, p in self.components if n not in self.disabled]

    def get_pipe(self, name: str) -> Pipe:
        for pipe_name, proc in self.components:
            if pipe_name == name:
                return proc
        raise ArchcliError(f"no component named '{name}' in the pipeline; it has: {', '.join(self.pipe_names)}")

    def has_pipe(self, name: str) -> bool:
        return name in self.pipe_names

    # --- running ----------------------------------------------------------------------------
    def make_doc(self, text: str) -> Doc:
        return self.tokenizer(text)

    def __call__(self, text: Union[str, Doc]) -> Doc:
        doc = self.make_doc(text) if isinstance(text, str) else text
        for _, proc in self.pipeline:
            doc = proc(doc)
        return doc

    def pipe(self, texts: Iterable[Union[str, Doc]], *, batch_size: Optional[int] = None) -> Iterator[Doc]:
        batch_size = batch_size or self.batch_size
        docs: Iterable[Doc] = (self.make_doc(t) if isinstance(t, str) else t for t in texts)
        for _, proc in self.pipeline:
            docs = proc.pipe(docs, batch_size=batch_size)
        return iter(docs)

    # --- training ---------------------------------------------------------------------------
    def update(
        self,
        examples: List[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
        exclude: Iterable[str] = (),
        annotates: Iterable[str] = (),
    ) -> Dict[str, float]:
        """One forward/backward pass of every trainable, non-excluded component.

        With `sgd` given, weights are updated at once; the training loop passes None and calls
        `finish_update` itself so it can accumulate gradients over several batches.
        """
        losses = {} if losses is None else losses
        exclude = set(exclude)
        annotates = set(annotates)
        for name, proc in self.pipeline:
            if name not in exclude and proc.is_trainable:
                proc.update(examples, drop=drop, sgd=None, losses=losses)
            if name in annotates:
                docs = [eg.predicted for eg in examples]
                proc.set_annotations(docs, proc.predict(docs))
        if sgd is not None:
            self.finish_update(sgd, exclude=exclude)
        for _, proc in self.pipeline:
            if isinstance(proc, ListenedPipe):
                for listener in proc.listeners:
                    listener.clear()
        return losses

    def finish_update(self, sgd: Optimizer, exclude: Iterable[str] = ()) -> None:
        exclude = set(exclude)
        for name, proc in self.pipeline:
            if name not in exclude and proc.is_trainable:
                proc.finish_update(sgd)

    def initialize(self, get_examples: Callable[[], Iterable[Example]], sgd: Optional[Optimizer] = None) -> Optimizer:
        """Load vectors, learn labels and shapes from the examples, and build the optimizer."""
        from .training.initialize import init_vocab_and_components

        init_vocab_and_components(self, get_examples)
        if sgd is None:
            sgd = self.create_optimizer()
        return sgd

    def create_optimizer(self) -> Optimizer:
        config = interpolate_config(self.config)
        block = config.get("training", {}).get("optimizer", {"@optimizers": "Adam.v1"})
        return resolve_block({"optimizer": block}, "training")["optimizer"]

    @contextlib.contextmanager
    def use_params(self, params: Optional[Dict]):
        """Temporarily swap in e.g. the optimizer's parameter averages."""
        if not params:
            yield
            return
        with contextlib.ExitStack() as stack:
            for _, proc in self.components:
                if isinstance(getattr(proc, "model", None), Model):
                    stack.enter_context(proc.model.use_params(params))
            yield

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, examples: Sequence[Example], *, batch_size: Optional[int] = None,
                 per_component: bool = False, predictions: Optional[List[Example]] = None,
                 retokenize: Optional[bool] = None) -> Dict[str, Any]:
        """Run the pipeline on blank copies of the examples' predicted tokens (as the corpus
        reader made them: re-tokenised raw text with `gold_preproc = false`, as in spaCy) and
        score against gold through the alignment (gold tokens no predicted token matches count
        as wrong). `retokenize` True: each gold doc's raw text through this pipeline's tokenizer
        (`spacy evaluate`); False: the corpus's own tokens. `per_component` adds
        "per_component": {name: that component's own scores}; a `predictions` list receives the
        scored examples."""
        if retokenize:
            examples = [Example(self.make_doc(eg.gold.text), eg.gold, eg.source) for eg in examples]
        else:
            source = (lambda eg: eg.gold) if retokenize is False else (lambda eg: eg.predicted)
            examples = [Example(source(eg).copy(annotations=False), eg.gold, eg.source) for eg in examples]
        if predictions is not None:
            predictions.extend(examples)
        for _, proc in self.pipeline:
            # A component scored on gold inputs no earlier component predicts (an entity linker
            # over gold mentions) gets them on the blank copies.
            if hasattr(proc, "use_gold_inputs"):
                proc.use_gold_inputs(examples)
        start = time.perf_counter()
        docs = list(self.pipe((eg.predicted for eg in examples), batch_size=batch_size or self.batch_size))
        elapsed = time.perf_counter() - start
        n_words = sum(len(doc) for doc in docs)
        scores: Dict[str, Any] = dict(score_tokenization(examples))
        by_component = {name: proc.score(examples) for name, proc in self.pipeline}
        for component_scores in by_component.values():
            scores.update(component_scores)
        if "pos_acc" not in scores and any(eg.predicted.pos.any() for eg in examples):
            scores.update(score_token_attr(examples, "pos"))
        scores["speed"] = n_words / elapsed if elapsed > 0 else 0.0
        if per_component:
            scores["per_component"] = by_component
        return scores

    # --- saving and loading -----------------------------------------------------------------
    def to_disk(self, path: Union[str, Path], *, extra: Optional[Callable[[Path], None]] = None) -> None:
        """Write the model directory atomically: a temporary sibling renamed into place, so an
        interrupted or failed save leaves the previous directory as it was. `extra(tmp)` adds
        files that must land in the same rename (training writes its resumable state so)."""
        with atomic_dir(path) as tmp:
            self._write_dir(tmp)
            if extra is not None:
                extra(tmp)

    def _write_dir(self, tmp: Path) -> None:
        self.config.to_disk(tmp / "config.cfg")
        meta = dict(self.meta)
        meta.update(
            {
                "lang": self.config.get("nlp", {}).get("lang", "en"),
                "pipeline": self.pipe_names,
                "archcli_version": __version__,
                "labels": {n: list(getattr(p, "labels", [])) for n, p in self.components if hasattr(p, "labels")},
            }
        )
        srsly.write_json(tmp / "meta.json", meta)
        srsly.write_json(tmp / TOKENIZER_FILE, self.tokenizer.to_dict())  # its rules: the model tokenises as trained
        if self.vocab.vectors.data.size:
            (tmp / "vocab").mkdir()
            self.vocab.vectors.to_disk(tmp / "vocab" / "vectors.npz")
        for name, proc in self.components:
            if hasattr(proc, "to_disk"):
                proc.to_disk(tmp / name)


def _factory_or_error(factory_name: str, name: str):
    try:
        return get_factory(factory_name)
    except KeyError:
        import difflib

        close = difflib.get_close_matches(factory_name, list(FACTORIES), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else f" Known: {', '.join(sorted(FACTORIES))}"
        raise ConfigError(f"unknown factory '{factory_name}'.{hint}", where=f"components.{name}.factory")


def _check_exclude(exclude: List[str], pipe_names: List[str], components: Dict[str, Any]) -> None:
    """Refuse names that are not components, and excluding a tok2vec that others listen to."""
    unknown = [name for name in exclude if name not in pipe_names]
    if unknown:
        raise ArchcliError(f"cannot exclude {', '.join(map(repr, unknown))}: not in the pipeline, "
                           f"which has: {', '.join(pipe_names)}")
    seen_tok2vec: List[str] = []
    for name in pipe_names:
        block = components.get(name, {})
        if block.get("factory") == "tok2vec":
            seen_tok2vec.append(name)
            continue
        if name in exclude:
            continue
        kept = [t for t in seen_tok2vec if t not in exclude]
        for key, upstream in listener_blocks(block, f"components.{name}"):
            if upstream in exclude or (upstream == "*" and not kept and seen_tok2vec):
                target = upstream if upstream != "*" else seen_tok2vec[-1]
                raise ArchcliError(
                    f"component '{name}' listens to the tok2vec '{target}' ({key} = \"{upstream}\"), "
                    f"which is excluded; exclude '{name}' too, or keep '{target}'"
                )


def _config_without(config: Config, exclude: List[str], where: str) -> Config:
    """The (uninterpolated) config less the excluded components, so `${paths.*}` stay references.

    A reference into an excluded component's block (e.g. a width) is replaced by its value.
    """
    resolved = interpolate_config(config, where=where)
    config = config.copy()
    nlp_block = config["nlp"]
    nlp_block["pipeline"] = [n for n in nlp_block.get("pipeline", []) if n not in exclude]
    if "disabled" in nlp_block:
        nlp_block["disabled"] = [n for n in nlp_block["disabled"] if n not in exclude]
    for name in exclude:
        config.get("components", {}).pop(name, None)
    refs = tuple(f"${{components.{name}{end}" for name in exclude for end in (".", "}"))
    _inline_refs(config, resolved, refs)
    return config


def _inline_refs(block: Dict[str, Any], resolved: Dict[str, Any], refs: Tuple[str, ...]) -> None:
    for key, value in block.items():
        if isinstance(value, dict):
            _inline_refs(value, resolved[key], refs)
        elif isinstance(value, str) and any(ref in value for ref in refs):
            block[key] = resolved[key]


def _meta_without(meta: Dict[str, Any], config: Config, exclude: List[str]) -> Dict[str, Any]:
    """meta.json's entries for the kept components only: pipeline, labels, frozen components, and
    the scores (performance, score_weights) of the excluded components' factories."""
    if not exclude:
        return meta
    meta = dict(meta)
    components = config.get("components", {})

    def score_keys(names: Iterable[str]) -> set:
        keys: set = set()
        for name in names:
            factory_name = components.get(name, {}).get("factory")
            if factory_name in FACTORIES:
                keys.update(FACTORIES[factory_name].default_score_weights)
        return keys

    kept = [n for n in config["nlp"].get("pipeline", []) if n not in exclude]
    dropped = score_keys(exclude) - score_keys(kept)
    for key in ("pipeline", "frozen_components", "disabled"):
        if isinstance(meta.get(key), list):
            meta[key] = [n for n in meta[key] if n not in exclude]
    if isinstance(meta.get("labels"), dict):
        meta["labels"] = {n: v for n, v in meta["labels"].items() if n not in exclude}
    for key in ("performance", "score_weights"):
        if isinstance(meta.get(key), dict):
            meta[key] = {k: v for k, v in meta[key].items() if k not in dropped}
    return meta


def load(path: Union[str, Path], *, exclude: Iterable[str] = ()) -> Pipeline:
    """Load a model directory written by `Pipeline.to_disk` (or `archcli train`).

    Components in `exclude` are left out of the pipeline. A missing or damaged directory is a
    ModelDirError naming what is missing or damaged; nothing else is loaded in its place.
    """
    from .tokens.vectors import Vectors

    path = Path(path)
    if not path.exists():
        backups = backups_of(path)
        if backups:
            # Only a save killed between its two renames leaves a backup and no directory.
            raise ModelDirError(
                f"model directory does not exist, but '{backups[-1]}' holds the previous version "
                f"(a save was interrupted between its two renames). Check it, then restore it "
                f"with: mv '{backups[-1]}' '{path}'",
                where=str(path),
            )
        raise ModelDirError("model directory does not exist", where=str(path))
    if not path.is_dir():
        raise ModelDirError("is a file, not a model directory", where=str(path))
    if not (path / "config.cfg").exists():
        raise ModelDirError("not a model directory (no config.cfg)", where=str(path))
    config = load_config(path / "config.cfg")
    meta = read_json(path / "meta.json", error=ModelDirError) if (path / "meta.json").exists() else {}
    if not isinstance(meta, dict):
        raise ModelDirError("damaged: expected a JSON object", where=str(path / "meta.json"))
    exclude = list(exclude)
    nlp = Pipeline.from_config(config, where=str(path / "config.cfg"), exclude=exclude)
    nlp.meta = _meta_without(meta, config, exclude)
    if (path / TOKENIZER_FILE).exists():
        rules = read_json(path / TOKENIZER_FILE, error=ModelDirError)
        try:
            nlp.tokenizer = Tokenizer(nlp.vocab, rules_from_dict(rules if isinstance(rules, dict) else {"": None}))
        except (ValueError, TypeError, KeyError) as err:
            raise ModelDirError(f"damaged tokenizer rules: {err}", where=str(path / TOKENIZER_FILE)) from None
    vectors_path = path / "vocab" / "vectors.npz"
    if vectors_path.exists():
        try:
            nlp.vocab.set_vectors(Vectors.from_disk(vectors_path))
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
            raise ModelDirError(f"damaged vectors table: {err}", where=str(vectors_path)) from None
    for name, proc in nlp.components:
        if not hasattr(proc, "from_disk"):
            continue
        if not (path / name).is_dir():
            raise ModelDirError(f"no directory for component '{name}' (the model directory is incomplete)",
                                where=str(path / name))
        proc.from_disk(path / name)  # reads its cfg; a damaged one is a ModelDirError naming it
    for name, proc in nlp.components:
        if isinstance(proc, ListenedPipe):
            proc.check_loaded_listeners(path / name)
    return nlp
