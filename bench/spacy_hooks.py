"""spaCy hooks for the benchmark, loaded with `spacy train --code bench/spacy_hooks.py`.

`bench.StepClockLogger.v1` wraps `spacy.ConsoleLogger.v1` (the console output is unchanged) and
writes, when training ends, a JSON summary to the file named by $BENCH_STEP_CLOCK:

    step_seconds   seconds between consecutive log calls, one per step after step 0
    eval_steps     the steps (after 0) that evaluated, whose intervals include evaluation and saving
    words          {step: words seen so far} at every evaluation step

spaCy calls the logger once per step (with None on steps that do not evaluate), right after the
update, and after evaluation and checkpointing on evaluation steps; so the interval that ends at a
non-evaluation step is exactly one step's batching, forward, backward and optimizer update.

`bench.GoldTokenCorpus.v1` reads a `.spacy` file like `spacy.Corpus.v1` but always predicts on the
gold tokens of each whole document (no retokenisation, no sentence splitting), which is what
archcli's reader does; `bench_tagger.py --spacy-gold-tokens` trains spaCy with it as a control.
"""
import json
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import registry


@registry.loggers("bench.StepClockLogger.v1")
def step_clock_logger(progress_bar: bool = False) -> Callable:
    console = registry.get("loggers", "spacy.ConsoleLogger.v1")(progress_bar=progress_bar)
    out_path = os.environ.get("BENCH_STEP_CLOCK", "step_clock.json")

    def setup(nlp: Any, stdout: Any, stderr: Any) -> Tuple[Callable, Callable]:
        log_step, finalize = console(nlp, stdout, stderr)
        step_seconds: List[float] = []
        eval_steps: List[int] = []
        words: Dict[int, int] = {}
        state: Dict[str, Any] = {"last": None, "step": -1}

        def log(info: Optional[Dict[str, Any]]) -> None:
            now = time.perf_counter()
            state["step"] += 1
            if state["last"] is not None:
                step_seconds.append(now - state["last"])
            if info is not None:
                words[int(info["step"])] = int(info["words"])
                if info["step"]:
                    eval_steps.append(int(info["step"]))
            log_step(info)
            state["last"] = time.perf_counter()  # the console printing is not part of a step

        def done() -> None:
            finalize()
            with open(out_path, "w", encoding="utf8") as file_:
                json.dump({"step_seconds": step_seconds, "eval_steps": eval_steps, "words": words}, file_)

        return log, done

    return setup


@registry.readers("bench.GoldTokenCorpus.v1")
def gold_token_corpus(path: str, max_length: int = 0, gold_preproc: bool = False, limit: int = 0,
                      augmenter: Optional[Callable] = None) -> Callable[[Any], Iterator[Example]]:
    """Examples whose predicted doc has the reference's own tokens; the other settings are ignored."""

    def read(nlp: Any) -> Iterator[Example]:
        for ref in DocBin().from_disk(path).get_docs(nlp.vocab):
            if len(ref):
                words = [t.text for t in ref]
                yield Example(Doc(nlp.vocab, words=words, spaces=[bool(t.whitespace_) for t in ref]), ref)

    return read


def _gold_token_doc(nlp: Any, ref: Doc) -> Doc:
    """A doc with the reference's tokens, spaces and sentence starts, and nothing else."""
    starts = {sent.start for sent in ref.sents}
    return Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref],
               sent_starts=[i in starts for i in range(len(ref))])


@registry.readers("bench.GoldMentionsCorpus.v1")
def gold_mentions_corpus(path: str, max_length: int = 0, gold_preproc: bool = False, limit: int = 0,
                         augmenter: Optional[Callable] = None) -> Callable[[Any], Iterator[Example]]:
    """Entity-linking examples whose predicted doc has the reference's tokens, sentence starts and
    entity spans (labels, no kb_id), as archcli's reader gives its linker; the other settings are ignored.

    spaCy's `spacy.Corpus.v1` would re-tokenise the text and leave the predicted doc without sentence
    boundaries, so an `entity_linker` over gold entities (`use_gold_ents`) would take a whole
    document as every mention's "sentence" context.
    """

    def read(nlp: Any) -> Iterator[Example]:
        from spacy.tokens import Span

        for ref in DocBin().from_disk(path).get_docs(nlp.vocab):
            if len(ref):
                doc = _gold_token_doc(nlp, ref)
                doc.ents = [Span(doc, e.start, e.end, label=e.label_) for e in ref.ents]
                yield Example(doc, ref)

    return read


@registry.readers("bench.GoldHeadsCorpus.v1")
def gold_heads_corpus(path: str, input_prefix: str = "coref_head_clusters", max_length: int = 0,
                      gold_preproc: bool = False, limit: int = 0,
                      augmenter: Optional[Callable] = None) -> Callable[[Any], Iterator[Example]]:
    """Coreference training examples whose predicted doc has the reference's tokens, sentence starts
    and gold head clusters (`{input_prefix}_N`), as archcli gives its span resolver in training.

    spacy-experimental's span resolver reads its heads from the predicted doc, which `spacy.Corpus.v1`
    leaves without span groups, and its `get_loss` pairs the i-th head with the i-th gold span; the
    benchmark's spaCy training file keeps one gold span per head so the two line up.
    """

    def read(nlp: Any) -> Iterator[Example]:
        from spacy.tokens import Span

        for ref in DocBin().from_disk(path).get_docs(nlp.vocab):
            if len(ref):
                doc = _gold_token_doc(nlp, ref)
                for key, group in ref.spans.items():
                    if key.startswith(input_prefix + "_") and key[len(input_prefix) + 1:].isdigit():
                        doc.spans[key] = [Span(doc, s.start, s.end) for s in group]
                yield Example(doc, ref)

    return read


@registry.scorers("bench.span_resolver_scorer_missing_ok.v1")
def span_resolver_scorer_missing_ok(input_prefix: str = "coref_head_clusters",
                                    output_prefix: str = "coref_clusters") -> Callable:
    """spacy-experimental's span resolver scorer, made to survive a prediction with fewer clusters than
    the gold doc (it raises KeyError then, which ends `spacy train` at its first evaluation when the
    resolver runs after a coref component): a missing predicted cluster is scored as an empty one."""
    from spacy_experimental.coref.coref_scorer import score_span_predictions

    def score(examples: Any, **kwargs: Any) -> Dict[str, Any]:
        examples = list(examples)
        for eg in examples:
            for key in eg.reference.spans:
                if key.startswith(output_prefix + "_") and key not in eg.predicted.spans:
                    eg.predicted.spans[key] = []
        return score_span_predictions(examples, output_prefix=output_prefix)

    return score
