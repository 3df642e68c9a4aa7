"""Evaluate one trained pipeline on gold-tokenised .spacy docs; print JSON scores and speed.

Runs under either tool's python: `python parser_side.py {archcli|spacy} MODEL DATA.spacy`.
Both sides score with their own scorer on the same gold tokens; inference time covers the
pipeline only (docs are built before the clock starts; one warm-up batch first).
"""
import json
import resource
import sys
import time


def run_spacy(model_path: str, data_path: str) -> dict:
    import spacy
    from spacy.tokens import Doc, DocBin
    from spacy.training import Example

    nlp = spacy.load(model_path)
    gold = list(DocBin().from_disk(data_path).get_docs(nlp.vocab))
    blank = [Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]) for d in gold]
    list(nlp.pipe(blank[:5]))
    blank = [Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]) for d in gold]
    start = time.perf_counter()
    predicted = list(nlp.pipe(blank, batch_size=1000))
    elapsed = time.perf_counter() - start
    scores = nlp.evaluate([Example(p, g) for p, g in zip(predicted, gold)])
    scores["speed"] = sum(len(d) for d in gold) / elapsed
    return scores


def run_archcli(model_path: str, data_path: str) -> dict:
    from archcli.language import load
    from archcli.tokens.docbin import read_docbin
    from archcli.tokens.example import Example

    nlp = load(model_path)
    gold = list(read_docbin(data_path, nlp.vocab))
    list(nlp.pipe([d.copy(annotations=False) for d in gold[:5]]))
    blank = [d.copy(annotations=False) for d in gold]
    start = time.perf_counter()
    predicted = list(nlp.pipe(blank, batch_size=1000))
    elapsed = time.perf_counter() - start
    examples = [Example(p, g) for p, g in zip(predicted, gold)]
    scores = {}
    for _, proc in nlp.pipeline:
        scores.update(proc.score(examples))
    scores["speed"] = sum(len(d) for d in gold) / elapsed
    return scores


if __name__ == "__main__":
    tool, model, data = sys.argv[1:4]
    result = run_spacy(model, data) if tool == "spacy" else run_archcli(model, data)
    keep = ("tag_acc", "dep_uas", "dep_las", "sents_f", "ents_p", "ents_r", "ents_f", "speed")
    out = {k: result.get(k) for k in keep if result.get(k) is not None}
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
