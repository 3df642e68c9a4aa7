"""The data model and tokenizer stay linear in document length (issue 16, item 8).

Each loop below touches every token of a 50,000-token doc once; with per-call offset
rebuilding (or a tokenizer copying the rest of the text per chunk) they took minutes.
"""
import time

from archcli.tokens.doc import Doc, Span
from archcli.tokens.tokenizer import Tokenizer
from archcli.tokens.vocab import Vocab

N_TOKENS = 50_000
BUDGET_S = 5.0


def _doc() -> Doc:
    words = [("word%d" % (i % 97)) if i % 10 else "." for i in range(N_TOKENS)]
    spaces = [i % 10 != 9 for i in range(N_TOKENS)]
    doc = Doc(Vocab(), words, spaces)
    doc.ents = [Span(doc, i, i + 2, "X") for i in range(0, N_TOKENS - 2, 50)]
    doc.user_data["ents_known"] = True
    return doc


def _timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def test_token_offsets_linear():
    doc = _doc()
    text = doc.text
    total = 0
    elapsed = _timed(lambda: [t.idx for t in doc])
    assert elapsed < BUDGET_S, f"Token.idx over {N_TOKENS} tokens took {elapsed:.1f}s"
    for t in (doc[0], doc[12345], doc[-1]):
        assert text[t.idx : t.idx + len(t)] == t.text
        total += t.idx
    assert total > 0


def test_span_chars_and_text_linear():
    doc = _doc()
    text = doc.text
    spans = [doc[i : i + 3] for i in range(0, N_TOKENS - 3, 3)]
    elapsed = _timed(lambda: [(s.start_char, s.end_char, s.text) for s in spans])
    assert elapsed < BUDGET_S, f"Span offsets over {len(spans)} spans took {elapsed:.1f}s"
    for span in spans[:50] + spans[-50:]:
        assert text[span.start_char : span.end_char] == span.text


def test_ent_iob_linear():
    doc = _doc()
    elapsed = _timed(lambda: [(t.ent_iob_, t.ent_type_) for t in doc])
    assert elapsed < BUDGET_S, f"Token.ent_iob_ over {N_TOKENS} tokens took {elapsed:.1f}s"
    assert [t.ent_iob_ for t in doc[:4]] == ["B", "I", "O", "O"]
    assert [t.ent_type_ for t in doc[49:53]] == ["", "X", "X", ""]
    iob = doc.to_array(["ENT_IOB"])[:, 0]
    assert [{1: "I", 2: "O", 3: "B"}[int(v)] for v in iob[:200]] == [t.ent_iob_ for t in doc[:200]]


def test_offsets_follow_reassigned_spaces():
    doc = Doc(Vocab(), ["a", "b", "c"], [True, True, False])
    assert doc[2].idx == 4
    doc.spaces = [False, False, False]
    assert doc[2].idx == 2 and doc.text == "abc"


def test_tokenizer_linear():
    # Long words make a long text (5.8M characters), which a copy of the rest of the text
    # per whitespace chunk made quadratic (14 s here before the fix, 0.2 s after).
    word = "internationalisation-interoperability-" * 3
    text = " ".join(f"{word}{i % 100}" for i in range(N_TOKENS)) + "\n"
    tokenizer = Tokenizer(Vocab())
    docs = []
    elapsed = _timed(lambda: docs.append(tokenizer(text)))
    assert elapsed < BUDGET_S, f"tokenising {len(text)} characters took {elapsed:.1f}s"
    assert len(docs[0]) >= N_TOKENS and docs[0].text == text


def test_tokenizer_punctuation_run_linear():
    tokenizer = Tokenizer(Vocab())
    for chunk in (")" * N_TOKENS, "1" * 10_000 + ")" * 20_000, "@" * 20_000):
        docs = []
        elapsed = _timed(lambda: docs.append(tokenizer(chunk)))
        assert elapsed < BUDGET_S, f"tokenising {chunk[:3]!r}… took {elapsed:.1f}s"
        assert docs[0].text == chunk
