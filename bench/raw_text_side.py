"""Score one tool's trained model on a .spacy dev file both ways; prints JSON.

    python bench/raw_text_side.py archcli|spacy MODEL DEV.spacy

`gold`: the pipeline runs on the corpus's own tokens; `raw`: on each doc's raw text through the
model's own tokenizer, scored through the alignment to the gold tokens (what `spacy evaluate`
does). Each tool scores with its own scorer (archcli: `archcli.evaluate.evaluate`; spaCy:
`Language.evaluate` on Examples it builds as its Corpus reader does).
"""
import json
import sys

KEYS = ("token_acc", "token_p", "token_r", "token_f", "tag_acc", "dep_uas", "dep_las", "sents_f", "speed")


def main() -> None:
    tool, model, data = sys.argv[1:4]
    if tool == "spacy":
        import spacy
        from spacy.tokens import Doc, DocBin
        from spacy.training import Example

        nlp = spacy.load(model)
        docs = list(DocBin().from_disk(data).get_docs(nlp.vocab))
        gold = [Example(Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]), d)
                for d in docs]
        raw = [Example(nlp.make_doc(d.text), d) for d in docs]
        scores = {"gold": nlp.evaluate(gold), "raw": nlp.evaluate(raw)}
    else:
        from archcli.evaluate import evaluate

        scores = {"gold": evaluate(model, data), "raw": evaluate(model, data, retokenize=True)}
    print(json.dumps({way: {k: s.get(k) for k in KEYS} for way, s in scores.items()}))


if __name__ == "__main__":
    main()
