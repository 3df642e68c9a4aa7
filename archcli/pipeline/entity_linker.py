"""The entity linker: ground each entity mention (`doc.ents`) in a knowledge base, or NIL.

For every mention the candidate generator looks up KB entities by its text (each with the
alias's prior probability); the model encodes the mention's context (its sentence, widened by
`n_sents` sentences) into the KB's vector space; a candidate scores prior + sim - prior * sim,
sim being the cosine of the context encoding and the entity's vector (spaCy's rule).
Training pulls the context encoding toward the gold entity's vector (cosine distance).

The KB is part of the component: saved under `kb/` in its directory, so a trained pipeline
links with nothing else on disk.
"""
import inspect
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
from thinc.api import CosineDistance, Model, Optimizer, set_dropout_rate

from ..errors import ConfigError, CorpusError
from ..kb import InMemoryLookupKB
from ..tokens import Doc, Span
from ..tokens.example import Example, copy_gold_sentences
from .base import TrainablePipe
from .factories import default_tok2vec_block, factory

NIL = "NIL"

DEFAULT_NEL_CONFIG = """
[component]
labels_discard = []
n_sents = 0
incl_prior = true
incl_context = true
entity_vector_length = 64
get_candidates = {"@misc":"spacy.CandidateGenerator.v1"}
get_candidates_batch = {"@misc":"spacy.CandidateBatchGenerator.v1"}
generate_empty_kb = {"@misc":"spacy.EmptyKB.v2"}
overwrite = true
scorer = {"@scorers":"spacy.entity_linker_scorer.v1"}
use_gold_ents = true
candidates_batch_size = 1
threshold = null

[component.model]
@architectures = "spacy.EntityLinker.v2"
nO = null
""" + default_tok2vec_block("component.model.tok2vec", depth=2)


@factory(
    "entity_linker",
    default_config=DEFAULT_NEL_CONFIG,
    default_score_weights={"nel_micro_f": 1.0, "nel_micro_r": None, "nel_micro_p": None},
)
def make_entity_linker(
    nlp,
    name: str,
    model: Model,
    *,
    labels_discard: Iterable[str],
    n_sents: int,
    incl_prior: bool,
    incl_context: bool,
    entity_vector_length: int,
    get_candidates: Callable,
    get_candidates_batch: Callable,
    generate_empty_kb: Callable,
    overwrite: bool,
    scorer: Optional[Callable],
    use_gold_ents: bool,
    candidates_batch_size: int,
    threshold: Optional[float] = None,
) -> "EntityLinker":
    _check_settings(name, n_sents=n_sents, entity_vector_length=entity_vector_length,
                    candidates_batch_size=candidates_batch_size, threshold=threshold, labels_discard=labels_discard)
    if not model.attrs.get("include_span_maker", False) and _listens(model.get_ref("tok2vec")):
        raise ConfigError("spacy.EntityLinker.v1 encodes one context doc per mention, not the pipeline's docs, so "
                          "its tok2vec cannot listen to an upstream component; give it its own tok2vec, or use "
                          "spacy.EntityLinker.v2", where=f"components.{name}.model.tok2vec")
    return EntityLinker(
        nlp.vocab, model, name, labels_discard=list(labels_discard), n_sents=n_sents, incl_prior=incl_prior,
        incl_context=incl_context, entity_vector_length=entity_vector_length, get_candidates=get_candidates,
        get_candidates_batch=get_candidates_batch, generate_empty_kb=generate_empty_kb, overwrite=overwrite,
        scorer=scorer, use_gold_ents=use_gold_ents, candidates_batch_size=candidates_batch_size,
        threshold=threshold,
    )


def _check_settings(name: str, **settings: Any) -> None:
    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    where = f"components.{name}"
    if not whole(settings["n_sents"]) or settings["n_sents"] < 0:
        raise ConfigError(f"must be a whole number >= 0, not {settings['n_sents']!r}", where=f"{where}.n_sents")
    for key in ("entity_vector_length", "candidates_batch_size"):
        if not whole(settings[key]) or settings[key] < 1:
            raise ConfigError(f"must be a whole number >= 1, not {settings[key]!r}", where=f"{where}.{key}")
    threshold = settings["threshold"]
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0.0 <= threshold <= 1.0):
        raise ConfigError(f"must be null or a number in [0, 1], not {threshold!r}", where=f"{where}.threshold")
    labels = settings["labels_discard"]
    if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
        raise ConfigError(f"must be a list of entity labels, not {labels!r}", where=f"{where}.labels_discard")


class EntityLinker(TrainablePipe):
    NIL = NIL

    def __init__(
        self,
        vocab,
        model: Model,
        name: str = "entity_linker",
        *,
        labels_discard: List[str],
        n_sents: int,
        incl_prior: bool,
        incl_context: bool,
        entity_vector_length: int,
        get_candidates: Callable,
        get_candidates_batch: Callable,
        generate_empty_kb: Callable,
        overwrite: bool,
        scorer: Optional[Callable],
        use_gold_ents: bool,
        candidates_batch_size: int,
        threshold: Optional[float],
    ) -> None:
        super().__init__(
            vocab, model, name, labels_discard=labels_discard, n_sents=n_sents, incl_prior=incl_prior,
            incl_context=incl_context, entity_vector_length=entity_vector_length, overwrite=overwrite,
            use_gold_ents=use_gold_ents, candidates_batch_size=candidates_batch_size, threshold=threshold,
        )
        self.get_candidates = get_candidates
        self.get_candidates_batch = get_candidates_batch
        self.generate_empty_kb = generate_empty_kb
        self.scorer = scorer
        self.distance = CosineDistance(normalize=False)
        self.with_span_maker = bool(model.attrs.get("include_span_maker", False))
        if self.with_span_maker:
            model.get_ref("span_maker").attrs["n_sents"] = n_sents
        # Mentions (and sentences) come from the gold docs when no earlier component predicts them.
        self.gold_mentions = use_gold_ents
        self.kb = _empty_kb(generate_empty_kb, vocab, entity_vector_length, name)

    # --- the knowledge base ------------------------------------------------------------------------
    def set_kb(self, kb_loader: Callable) -> None:
        """Use the KB `kb_loader(vocab)` returns (what `[initialize.components.X.kb_loader]` gives)."""
        where = f"initialize.components.{self.name}.kb_loader"
        if not callable(kb_loader):
            raise ConfigError("must be a KB loader such as {\"@misc\":\"spacy.KBFromFile.v1\", kb_path = ...}, "
                              f"not {kb_loader!r}", where=where)
        kb = kb_loader(self.vocab)
        if not isinstance(kb, InMemoryLookupKB):
            raise ConfigError(f"returned {type(kb).__name__}, not a knowledge base", where=where)
        self.kb = kb
        self.cfg["entity_vector_length"] = kb.entity_vector_length

    def validate_kb(self, where: str) -> None:
        if self.kb.get_size_entities() == 0:
            raise ConfigError(
                f"component '{self.name}' has an empty knowledge base: give one with "
                f"[initialize.components.{self.name}.kb_loader] (@misc = \"spacy.KBFromFile.v1\", kb_path = a "
                "directory made by `archcli init-kb`)", where=where)

    # --- setting up ---------------------------------------------------------------------------------
    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp=None,
        kb_loader: Optional[Callable] = None,
    ) -> None:
        if kb_loader is not None:
            self.set_kb(kb_loader)
        self.validate_kb(f"initialize.components.{self.name}.kb_loader")
        if nlp is not None:
            self.gold_mentions = self.cfg["use_gold_ents"] and not _earlier_sets_ents(nlp, self.name)
        self.cfg["gold_mentions"] = self.gold_mentions
        self._check_gold_ids(get_examples())  # one pass over the stream, holding no example
        width = self.kb.entity_vector_length
        output = self.model.get_ref("output_layer")
        nO = output.maybe_get_dim("nO")
        if nO is not None and nO != width:
            raise ConfigError(f"nO = {nO}, but the knowledge base's entity vectors have {width} dimensions; set "
                              f"nO = null (sized from the KB) or {width}", where=f"components.{self.name}.model.nO")
        if nO is None:
            output.set_dim("nO", width)
        docs = []
        for eg in islice(get_examples(), 10):
            doc = eg.reference.copy()
            doc.ents = doc.ents or [doc[0:1]] if len(doc) else []
            docs.append(doc)
        docs = [doc for doc in docs if len(doc)]
        if not self.with_span_maker:
            docs = [doc for ctx in (self._context_docs(doc) for doc in docs) for doc in ctx]
        n_rows = sum(len(doc.ents) for doc in docs) if self.with_span_maker else len(docs)
        self.model.initialize(X=docs, Y=self.model.ops.alloc2f(n_rows, width))

    def _check_gold_ids(self, examples: Iterable[Example]) -> None:
        """A gold id that is neither NIL nor in the KB is a corpus mistake (or the wrong KB)."""
        for eg in examples:
            for ent in eg.reference.ents:
                kb_id = ent.kb_id_
                if kb_id and kb_id != NIL and not self.kb.contains_entity(kb_id):
                    raise CorpusError(
                        f"gold kb_id {kb_id!r} of {ent.text!r} is not in the knowledge base of component "
                        f"'{self.name}' ({self.kb.get_size_entities()} entities); use NIL for mentions outside it",
                        where=eg.source or "training data")

    # --- mentions and their contexts ---------------------------------------------------------------
    def use_gold_inputs(self, examples: Iterable[Example]) -> None:
        """At evaluation: the gold mentions (labels, no ids) and sentence starts on the blank docs,
        when no earlier component predicts entities and `use_gold_ents` is set."""
        if self.gold_mentions:
            copy_gold_mentions(examples)

    def _context_docs(self, doc: Doc) -> List[Doc]:
        """EntityLinker.v1's input: one doc per mention, its context window."""
        from ..ml.entity_linker import context_ranges

        return [doc.slice_doc(int(s), int(e)) for s, e in context_ranges(doc, self.cfg["n_sents"]).tolist()]

    def _encode(self, docs: List[Doc], is_train: bool):
        """(encodings, backprop): one row per mention of `docs`, in doc then `doc.ents` order."""
        if not any(doc.ents for doc in docs):
            return None, None
        # v2 takes the whole batch (docs without mentions add no rows), as a listener's upstream saw it.
        if not self.with_span_maker:
            docs = [ctx for doc in docs for ctx in self._context_docs(doc)]
        if is_train:
            return self.model.begin_update(docs)
        return self.model.predict(docs), None

    # --- running ------------------------------------------------------------------------------------
    def predict(self, docs: List[Doc]) -> List[List[str]]:
        """The KB id (or NIL) of every entity of every doc."""
        encodings, _ = self._encode(docs, is_train=False)
        encodings = None if encodings is None else self.model.ops.to_numpy(encodings)
        mentions = [ent for doc in docs for ent in doc.ents]
        ids = self.link(mentions, encodings)
        out, begin = [], 0
        for doc in docs:
            out.append(ids[begin:begin + len(doc.ents)])
            begin += len(doc.ents)
        return out

    def candidates_for(self, mentions: List[Span]) -> List[List[Any]]:
        size = self.cfg["candidates_batch_size"]
        if size == 1:
            return [list(self.get_candidates(self.kb, mention)) for mention in mentions]
        out: List[List[Any]] = []
        for start in range(0, len(mentions), size):
            out.extend(list(c) for c in self.get_candidates_batch(self.kb, mentions[start:start + size]))
        return out

    def link(self, mentions: List[Span], encodings: Optional[numpy.ndarray]) -> List[str]:
        """Choose each mention's entity: scores for all candidates of all mentions at once."""
        if not mentions:
            return []
        discard = set(self.cfg["labels_discard"])
        keep = [m.label_ not in discard for m in mentions]
        candidates = self.candidates_for([m for m, k in zip(mentions, keep) if k])
        per_mention: List[List[Any]] = []
        it = iter(candidates)
        for k in keep:
            per_mention.append(next(it) if k else [])
        counts = numpy.asarray([len(c) for c in per_mention], dtype="int64")
        flat = [c for cands in per_mention for c in cands]
        if not flat:
            return [NIL] * len(mentions)
        owner = numpy.repeat(numpy.arange(len(mentions)), counts)
        priors = numpy.asarray([c.prior_prob for c in flat], dtype="float32")
        scores = priors if self.cfg["incl_prior"] else numpy.zeros_like(priors)
        if self.cfg["incl_context"] and encodings is not None:
            rows = numpy.asarray([_entity_row(self.kb, c) for c in flat], dtype="int64")
            sims = cosine_rows(encodings[owner], self.kb.vectors[rows])
            scores = scores + sims - scores * sims
        best, best_score = segment_argmax(scores, counts)
        threshold = self.cfg["threshold"]
        ids: List[str] = []
        starts = numpy.cumsum(counts) - counts
        for i, n in enumerate(counts.tolist()):
            if n == 0:
                ids.append(NIL)
            elif n == 1 and threshold is None:
                ids.append(flat[starts[i]].entity_)
            elif threshold is not None and best_score[i] < threshold:
                ids.append(NIL)
            else:
                ids.append(flat[starts[i] + best[i]].entity_)
        return ids

    def set_annotations(self, docs: List[Doc], kb_ids: List[List[str]]) -> None:
        overwrite = self.cfg["overwrite"]
        for doc, ids in zip(docs, kb_ids):
            if not doc.ents:
                continue
            doc.ents = [Span(doc, ent.start, ent.end, ent.label_,
                             kb_id if overwrite or not ent.kb_id_ else ent.kb_id_)
                        for ent, kb_id in zip(doc.ents, ids)]

    # --- training -----------------------------------------------------------------------------------
    def update(
        self,
        examples: List[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        if self.cfg["use_gold_ents"]:
            # spaCy's use_gold_ents: train on the gold mentions whatever an earlier ner predicted.
            copy_gold_mentions(examples, replace=True)
        targets = self._gold_rows(examples)
        if targets is None:
            return losses
        set_dropout_rate(self.model, drop)
        encodings, backprop = self._encode([eg.predicted for eg in examples], is_train=True)
        loss, d_encodings = self.get_loss(examples, encodings, targets)
        backprop(d_encodings)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def _gold_rows(self, examples: List[Example]) -> Optional[Tuple[numpy.ndarray, numpy.ndarray]]:
        """(encoding rows, KB rows) of the predicted mentions whose boundaries match a gold mention
        with an id in the KB; None if the batch has none (nothing to learn)."""
        enc_rows, kb_ids = [], []
        row = 0
        for eg in examples:
            gold = {(s.start, s.end): s.kb_id_ for s in eg.reference.ents}
            for ent in eg.predicted.ents:
                kb_id = gold.get((ent.start, ent.end))
                if kb_id and kb_id != NIL:
                    enc_rows.append(row)
                    kb_ids.append(kb_id)
                row += 1
        if not enc_rows:
            return None
        kb_rows = self.kb.entity_rows(kb_ids)
        known = kb_rows >= 0
        if not known.any():
            return None
        return numpy.asarray(enc_rows, dtype="int64")[known], kb_rows[known]

    def get_loss(self, examples: List[Example], encodings, targets: Tuple[numpy.ndarray, numpy.ndarray]):
        """Cosine distance of each learnable mention's encoding to its gold entity's vector (per
        mention, averaged); zero gradient for the other mentions."""
        ops = self.model.ops
        enc_rows, kb_rows = targets
        rows = ops.asarray1i(enc_rows)
        selected = encodings[rows]
        truths = ops.asarray2f(self.kb.vectors[kb_rows])
        gradients = self.distance.get_grad(selected, truths)
        loss = float(self.distance.get_loss(selected, truths)) / len(enc_rows)
        d_encodings = ops.alloc2f(*encodings.shape)
        d_encodings[rows] = gradients
        return loss, d_encodings

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        if self.scorer is None:
            return {}
        return self.scorer(list(examples), negative_labels=[NIL, ""], **kwargs)

    # --- serialisation --------------------------------------------------------------------------------
    def to_disk(self, path: Union[str, Path]) -> None:
        super().to_disk(path)
        self.kb.to_disk(Path(path) / "kb")

    def from_disk(self, path: Union[str, Path]) -> "EntityLinker":
        path = Path(path)
        kb = InMemoryLookupKB(self.vocab, int(self.cfg["entity_vector_length"]))
        kb.from_disk(path / "kb")
        self.kb = kb
        super().from_disk(path)
        self.cfg["entity_vector_length"] = kb.entity_vector_length
        self.gold_mentions = bool(self.cfg.get("gold_mentions", self.cfg["use_gold_ents"]))
        return self

    def _after_cfg_loaded(self) -> None:
        if self.with_span_maker:
            self.model.get_ref("span_maker").attrs["n_sents"] = self.cfg["n_sents"]


def _empty_kb(generate_empty_kb: Callable, vocab, entity_vector_length: int, name: str):
    """spacy.EmptyKB.v2 takes (vocab, length); v1 fixed its length in the config and takes (vocab)."""
    try:
        n_params = len(inspect.signature(generate_empty_kb).parameters)
    except (TypeError, ValueError):
        n_params = 2
    kb = generate_empty_kb(vocab, entity_vector_length) if n_params >= 2 else generate_empty_kb(vocab)
    if not isinstance(kb, InMemoryLookupKB):
        raise ConfigError(f"returned {type(kb).__name__}, not a knowledge base", where=f"components.{name}.generate_empty_kb")
    return kb


def copy_gold_mentions(examples: Iterable[Example], *, replace: bool = False) -> None:
    """Gold mentions (label, no kb_id) onto predicted docs without entities (or all, `replace`), and
    gold sentence starts onto predicted docs without any."""
    for eg in examples:
        pred, gold = eg.predicted, eg.reference
        if gold.ents and (replace or not pred.ents):
            pred.ents = [Span(pred, s.start, s.end, s.label_) for s in gold.ents]
    copy_gold_sentences(examples)


def _listens(tok2vec: Model) -> bool:
    return any(hasattr(node, "upstream_name") for node in tok2vec.walk())


def _earlier_sets_ents(nlp, name: str) -> bool:
    """Whether a component before `name` predicts doc.ents (then those are the mentions to link)."""
    for other, proc in nlp.components:
        if other == name:
            return False
        if getattr(proc, "sets_ents", False):
            return True
    return False


def _entity_row(kb, candidate) -> int:
    row = getattr(candidate, "entity_row", None)
    if row is None:
        row = int(kb.entity_rows([candidate.entity_])[0])
    return int(row)


def cosine_rows(a: numpy.ndarray, b: numpy.ndarray) -> numpy.ndarray:
    """Row-wise cosine of two (n, d) arrays; 0 where either row is all zeros."""
    norms = numpy.linalg.norm(a, axis=1) * numpy.linalg.norm(b, axis=1)
    dots = (a * b).sum(axis=1)
    return numpy.where(norms > 0, dots / numpy.where(norms > 0, norms, 1.0), 0.0).astype("float32")


def segment_argmax(scores: numpy.ndarray, counts: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Per segment of `scores` (lengths `counts`): index of its maximum within the segment (the first
    on ties) and the maximum; 0 and -inf for empty segments."""
    n = len(counts)
    best = numpy.zeros((n,), dtype="int64")
    best_score = numpy.full((n,), -numpy.inf, dtype="float32")
    if not len(scores):
        return best, best_score
    owner = numpy.repeat(numpy.arange(n), counts)
    starts = numpy.cumsum(counts) - counts
    # Sort by owner, then by descending score, then by position: each segment's first is its best.
    order = numpy.lexsort((numpy.arange(len(scores)), -scores, owner))
    nonempty = counts > 0
    first = order[starts[nonempty]]
    best[nonempty] = first - starts[nonempty]
    best_score[nonempty] = scores[first]
    return best, best_score
