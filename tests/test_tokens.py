import numpy
import pytest

from archcli.tokens import Doc, StringStore, Tokenizer, Vocab, hash_string, read_word2vec_text
from archcli.tokens import attrs


def test_hash_is_stable_and_matches_spacy():
    # The value spaCy's StringStore gives "apple" (MurmurHash64A, seed 1).
    assert hash_string("apple") == 8566208034543834098
    assert hash_string("") == 0
    strings = StringStore(["coffee"])
    assert strings[strings["coffee"]] == "coffee"


def test_lexeme_table_computed_once_per_word(vocab):
    doc = Doc(vocab, ["Hello", "world", "Hello", "12345"])
    assert len(vocab) == 3
    assert doc.lex[0] == doc.lex[2]
    shapes = [t.shape_ for t in doc]
    assert shapes == ["Xxxxx", "xxxx", "Xxxxx", "dddd"]
    assert [t.prefix_ for t in doc] == ["H", "w", "H", "1"]
    assert [t.suffix_ for t in doc] == ["llo", "rld", "llo", "345"]
    assert doc[0].norm_ == "hello" and doc[0].lower_ == "hello"
    table = doc.to_array(["ORTH", "NORM", "ID"])
    assert table.dtype == numpy.uint64 and table.shape == (4, 3)
    assert table[0, 0] == hash_string("Hello") and table[0, 1] == hash_string("hello")
    assert table[2, 2] == table[0, 2]


def test_symbol_strings_have_spacys_small_ids(vocab):
    # spaCy keys the strings of its symbol table by position, words included; so do we, so that
    # features (and the hash-embedding rows they select) match spaCy's.
    strings = StringStore()
    assert strings["NOUN"] == 92 and strings["nsubj"] == 429 and strings["_"] == 456
    assert strings[92] == "NOUN" and 449 in strings and strings.get_text(449) == "root"
    doc = Doc(vocab, ["root", "NN", "apple"])
    table = doc.to_array(["ORTH", "NORM"])
    assert table[0, 0] == 449 and table[1, 1] == strings["nn"] == 427
    assert table[2, 0] == hash_string("apple") == 8566208034543834098


@pytest.mark.parametrize("word,expected", [
    ("`", "'"), ("``", '"'), ("''", '"'), ("’", "'"), ("'S", "'s"), ("—", "-"), ("--", "-"), ("€", "$"),
    ("US$", "$"), ("…", "..."), ("Don’t", "don’t"), ("CAFÉ", "café"),
])
def test_norm_folds_whole_word_variants_as_spacy_does(vocab, word, expected):
    # Quote, dash and currency variants share one NORM (so one embedding row); other words are lower-cased.
    doc = Doc(vocab, [word])
    assert doc[0].norm_ == expected
    assert doc.to_array(["NORM"])[0, 0] == hash_string(expected)


def test_char_table_takes_both_ends(vocab):
    doc = Doc(vocab, ["jumping", "cat"])
    table = vocab.char_table(4)[doc.lex]
    assert bytes(table[0]) == b"jung"
    assert bytes(vocab.char_table(8)[doc.lex[0]]) == b"jumpping"
    # Short words: the final byte stays in the last column.
    assert bytes(table[1])[-1:] == b"t"


@pytest.mark.parametrize(
    "text,words",
    [
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        ("I can't go (now).", ["I", "ca", "n't", "go", "(", "now", ")", "."]),
        ("Dr. Smith paid $3.50.", ["Dr.", "Smith", "paid", "$", "3.50", "."]),
        ("  two  spaces\nline", ["  ", "two", " ", "spaces", "\n", "line"]),
    ],
)
def test_tokenizer_splits_and_keeps_text(vocab, text, words):
    doc = Tokenizer(vocab)(text)
    assert doc.words == words
    assert doc.text == text


def test_doc_annotations_and_spans(vocab):
    doc = Doc(vocab, ["She", "saw", "Paris", "."], tags=["PRP", "VBD", "NNP", "."],
              heads=[1, 1, 1, 1], deps=["nsubj", "ROOT", "obj", "punct"], sent_starts=[True, False, False, False])
    assert [t.tag_ for t in doc] == ["PRP", "VBD", "NNP", "."]
    assert doc[0].head.text == "saw" and doc[1].dep_ == "ROOT"
    span = doc.char_span(8, 13, label="GPE")
    assert span is not None and span.text == "Paris" and span.label_ == "GPE"
    assert doc.char_span(8, 11) is None
    doc.ents = [span]
    assert [t.ent_iob_ for t in doc] == ["O", "O", "B", "O"]
    blank = doc.copy(annotations=False)
    assert blank.words == doc.words and not blank.tag.any() and not blank.ents
    assert len(doc.sents) == 1


def test_word2vec_reader(tmp_path):
    path = tmp_path / "v.vec"
    path.write_text("3 2\ncat 1 2\ndog 3 4\nCat 5 6\n", encoding="utf8")
    vocab = Vocab()
    vectors = read_word2vec_text(path, vocab.strings)
    vocab.set_vectors(vectors)
    doc = Doc(vocab, ["cat", "Cat", "bird"])
    rows = vocab.vector_rows(attrs.ORTH)[doc.lex]
    assert rows.tolist() == [0, 2, -1]
    assert vectors.data[rows[1]].tolist() == [5.0, 6.0]


def test_word2vec_reader_reports_bad_line(tmp_path):
    from archcli.errors import ArchcliError

    path = tmp_path / "bad.vec"
    path.write_text("2 2\ncat 1 2\ndog 3\n", encoding="utf8")
    with pytest.raises(ArchcliError, match=r"bad.vec:3"):
        read_word2vec_text(path, Vocab().strings)
