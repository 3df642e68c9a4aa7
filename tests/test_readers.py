"""Readers: CoNLL-U details (multi-word tokens, SpaceAfter, heads, grouping) and JSONL."""
import pytest

from archcli.errors import CorpusError
from archcli.language import Pipeline
from archcli.training.conllu import read_conllu
from archcli.training.corpus import Corpus, create_jsonl_reader
from archcli.tokens import Vocab

CONLLU = """# sent_id = a1
# text = We can't stop now.
1\tWe\twe\tPRON\tPRP\t_\t4\tnsubj\t_\t_
2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_
2\tca\tcan\tAUX\tMD\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tstop\tstop\tVERB\tVB\t_\t0\troot\t_\t_
5\tnow\tnow\tADV\tRB\t_\t4\tadvmod\t_\tSpaceAfter=No
5.1\tx\tx\tX\tX\t_\t_\t_\t_\t_
6\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = a2
# text = Go!
1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No
2\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_

"""


@pytest.fixture
def conllu_file(tmp_path):
    path = tmp_path / "sample.conllu"
    path.write_text(CONLLU, encoding="utf8")
    return path


def test_conllu_words_spaces_heads(conllu_file):
    docs = [doc for doc, _ in read_conllu(conllu_file, Vocab(), n_sents=10)]
    assert len(docs) == 1
    doc = docs[0]
    assert doc.words == ["We", "ca", "n't", "stop", "now", ".", "Go", "!"]
    # As `spacy convert`: the doc's last token keeps its CoNLL-U SpaceAfter.
    assert doc.text == "We can't stop now. Go! "
    assert [t.tag_ for t in doc][:3] == ["PRP", "MD", "RB"]
    assert [t.pos_ for t in doc][:3] == ["PRON", "AUX", "PART"]
    assert [t.head.i for t in doc] == [3, 3, 3, 3, 3, 3, 6, 6]
    assert doc[3].dep_ == "ROOT" and doc[6].dep_ == "ROOT"
    assert [(s.start, s.end) for s in doc.sents] == [(0, 6), (6, 8)]


def test_conllu_one_sentence_per_doc_and_upos_tags(conllu_file):
    docs = [doc for doc, _ in read_conllu(conllu_file, Vocab(), n_sents=1, tag_source="upos")]
    assert len(docs) == 2
    assert [t.tag_ for t in docs[1]] == ["VERB", "PUNCT"]


def test_conllu_directory_corpus(tmp_path, conllu_file):
    (tmp_path / "more.conllu").write_text(CONLLU, encoding="utf8")
    nlp = Pipeline()
    examples = list(Corpus(tmp_path, n_sents=1)(nlp))
    assert len(examples) == 4
    assert not examples[0].predicted.tag.any() and examples[0].reference.tag.any()


def test_conllu_bad_token_id(tmp_path):
    path = tmp_path / "bad.conllu"
    path.write_text("1\tA\ta\tDET\tDT\t_\t2\tdet\t_\t_\n3\tdog\tdog\tNOUN\tNN\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(CorpusError, match=r"bad.conllu:2"):
        list(read_conllu(path, Vocab()))


def test_jsonl_raw_text_and_tokens(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "A short text."}\n\n{"tokens": ["Pre", "split"]}\n', encoding="utf8")
    examples = list(create_jsonl_reader(str(path))(Pipeline()))
    assert [eg.predicted.words for eg in examples] == [["A", "short", "text", "."], ["Pre", "split"]]


def test_jsonl_broken_line_names_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "fine"}\n{"text": \n', encoding="utf8")
    with pytest.raises(CorpusError, match=r"broken.jsonl:2"):
        list(create_jsonl_reader(str(path))(Pipeline()))


def test_annotated_jsonl_through_corpus(tmp_path):
    path = tmp_path / "tagged.jsonl"
    path.write_text('{"words": ["Hi", "!"], "spaces": [false, false], "tags": ["UH", "."]}\n', encoding="utf8")
    examples = list(Corpus(path)(Pipeline()))
    assert [t.tag_ for t in examples[0].reference] == ["UH", "."]
    path.write_text('{"words": ["Hi", "!"], "tags": ["UH"]}\n', encoding="utf8")
    with pytest.raises(CorpusError, match=r"tagged.jsonl:1"):
        list(Corpus(path)(Pipeline()))


def test_conllu_multiword_range_does_not_leak_into_next_sentence(tmp_path):
    path = tmp_path / "mwt.conllu"
    path.write_text(
        "1-2\tcan't\t_\t_\t_\t_\t_\t_\t_\t_\n1\tca\tcan\tAUX\tMD\t_\t0\troot\t_\t_\n"
        "2\tn't\tnot\tPART\tRB\t_\t1\tadvmod\t_\t_\n\n"
        "1\tWhere\twhere\tADV\tWRB\t_\t2\tadvmod\t_\t_\n2\tis\tbe\tAUX\tVBZ\t_\t0\troot\t_\t_\n"
        "3\tit\tit\tPRON\tPRP\t_\t2\tnsubj\t_\tSpaceAfter=No\n4\t?\t?\tPUNCT\t.\t_\t2\tpunct\t_\t_\n\n",
        encoding="utf8",
    )
    docs = [doc for doc, _ in read_conllu(path, Vocab(), n_sents=1)]
    assert docs[0].text == "can't " and docs[1].text == "Where is it? "
