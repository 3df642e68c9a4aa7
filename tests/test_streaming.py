"""Streaming training corpora (`training.max_epochs = -1`): the train corpus is read lazily every
epoch and shuffled within a bounded buffer, so the examples held at once do not grow with it."""
import random
import weakref

import pytest

from archcli import registry
from archcli.config import load_config
from archcli.tokens.doc import Doc
from archcli.tokens.example import Example
from archcli.training.loop import train
from archcli.training.stream import STREAM_SHUFFLE_BUFFER, shuffled_within

from .conftest import REPO
from .test_resume import args, invoke, log_rows, weights

WORDS = ["the", "dog", "saw", "a", "cat", "near", "my", "house", "and", "ran"]
TAGS = {"the": "DT", "a": "DT", "my": "PRP$", "dog": "NN", "cat": "NN", "house": "NN", "saw": "VBD",
        "ran": "VBD", "near": "IN", "and": "CC"}


class LiveCounter:
    """How many of the docs a reader made are still alive, at most, while training runs."""

    def __init__(self) -> None:
        self.live: "weakref.WeakSet[Doc]" = weakref.WeakSet()
        self.most = 0
        self.made = 0

    def track(self, doc: Doc) -> Doc:
        self.live.add(doc)
        self.made += 1
        self.most = max(self.most, len(self.live))
        return doc


COUNTER = LiveCounter()


@registry.readers("test.GeneratedTagged.v1")
def generated_tagged(n_docs: int, seed: int = 0):
    """`n_docs` small tagged docs made on the fly: a corpus that exists only as a stream."""

    def read(nlp):
        rng = random.Random(seed)
        for i in range(n_docs):
            words = [rng.choice(WORDS) for _ in range(rng.randint(4, 9))]
            doc = COUNTER.track(Doc(nlp.vocab, words, tags=[TAGS[w] for w in words]))
            yield Example(Doc(nlp.vocab, words), doc, source=f"generated:{i}")

    return read


def test_shuffle_within_a_buffer_keeps_every_item_once_and_holds_at_most_the_buffer():
    held = {"now": 0, "most": 0}

    def items():
        for i in range(5000):
            held["now"] += 1
            held["most"] = max(held["most"], held["now"])
            yield i

    out = []
    for item in shuffled_within(items(), 100, random.Random(0)):
        held["now"] -= 1
        out.append(item)
    assert sorted(out) == list(range(5000)) and out != list(range(5000))
    assert held["most"] <= 101
    # Mixed, but only locally: no item moves earlier than the buffer allows.
    assert all(position >= item - 100 for position, item in enumerate(out))
    again = list(shuffled_within(range(5000), 100, random.Random(0)))
    assert again == out  # the same seed gives the same order: a resumed run can replay it


def _generated_config(n_docs: int, max_epochs: int, max_steps: int):
    config = load_config(REPO / "configs" / "tagger.cfg", overrides={
        "training.max_epochs": max_epochs, "training.max_steps": max_steps, "training.eval_frequency": 20,
        "training.logger.progress_bar": False, "training.batcher.size": 200})
    config["corpora"]["train"] = {"@readers": "test.GeneratedTagged.v1", "n_docs": n_docs}
    config["corpora"]["dev"] = {"@readers": "test.GeneratedTagged.v1", "n_docs": 50, "seed": 1}
    return config


def test_streaming_holds_a_bounded_number_of_examples(tmp_path):
    n_docs = 20000
    COUNTER.__init__()
    nlp = train(_generated_config(n_docs, -1, 60), tmp_path / "stream")
    # Initialisation read the whole stream once (labels), then training read from it again.
    assert COUNTER.made > n_docs + 1000
    assert COUNTER.most <= STREAM_SHUFFLE_BUFFER + 300, COUNTER.most
    assert nlp.meta["performance"]["tag_acc"] > 0.9  # it learned from the stream
    # In memory (max_epochs = 0) the same corpus is held whole: the bound above is streaming's doing.
    COUNTER.__init__()
    train(_generated_config(n_docs, 0, 1), tmp_path / "loaded")
    assert COUNTER.most >= n_docs


@pytest.fixture(scope="module")
def ewt_tiny(tmp_path_factory, ud_dir):
    from .util import write_conllu_slice

    out = tmp_path_factory.mktemp("stream_data")
    return (write_conllu_slice(ud_dir / "train.conllu", out / "train.conllu", 0, 120),
            write_conllu_slice(ud_dir / "dev.conllu", out / "dev.conllu", 0, 30))


def test_streaming_run_resumes_bit_for_bit(ewt_tiny, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    output = invoke(*args(ewt_tiny, full, 30, "--training.max_epochs", "-1"))
    assert "Streaming training corpus" in output and f"buffer of {STREAM_SHUFFLE_BUFFER}" in output
    invoke(*args(ewt_tiny, part, 10, "--training.max_epochs", "-1"))
    invoke(*args(ewt_tiny, part, 30, "--training.max_epochs", "-1", "--resume"))
    assert weights(part / "model-last") == weights(full / "model-last")
    assert log_rows(part) == log_rows(full)
    assert max(row["epoch"] for row in log_rows(full)) >= 2  # several passes over the stream


def test_labels_from_files_as_spacy_init_labels_writes_them(tmp_path, ewt_tiny):
    """`spacy.read_labels.v1` in [initialize.components.*]: the tagger's list and the parser's
    {move: {label: count}} are taken as the labels, so initialisation need not read the corpus."""
    import json

    from archcli import load
    from archcli.errors import ConfigError
    from archcli.training.labels import read_labels

    (tmp_path / "tagger.json").write_text(json.dumps(["DT", "NN", "VBD", "ZZ_UNSEEN"]), encoding="utf8")
    moves = {"0": {"": 10}, "1": {"": 10}, "2": {"nsubj": 5, "det": 7}, "3": {"obj": 2, "det": 1}, "4": {"ROOT": 3}}
    (tmp_path / "parser.json").write_text(json.dumps(moves), encoding="utf8")
    assert read_labels(tmp_path / "missing.json") is None
    with pytest.raises(ConfigError, match="missing.json"):
        read_labels(tmp_path / "missing.json", require=True)
    text = (REPO / "configs" / "tagger_parser.cfg").read_text(encoding="utf8")
    for name in ("tagger", "parser"):
        text += (f'\n[initialize.components.{name}]\nlabels = {{"@readers":"spacy.read_labels.v1",'
                 f'"path":"{tmp_path / (name + ".json")}","require":true}}\n')
    config = tmp_path / "labels.cfg"
    config.write_text(text, encoding="utf8")
    argv = args(ewt_tiny, tmp_path / "out", 2, "--training.max_epochs", "-1")
    argv[1] = str(config)  # the config with the labels blocks
    invoke(*argv)
    nlp = load(tmp_path / "out" / "model-last")
    assert list(nlp.get_pipe("tagger").labels) == ["DT", "NN", "VBD", "ZZ_UNSEEN"]
    assert set(nlp.get_pipe("parser").labels) >= {"nsubj", "det", "obj"}
