"""Parser and NER: oracles, the spec block, learning real data, save/load, bad input."""
import numpy
import pytest
from thinc.api import Config

from archcli import registry
from archcli.errors import ArchcliError, CorpusError
from archcli.language import Pipeline, load
from archcli.pipeline.transitions import ArcEager, BiluoPushDown
from archcli.pipeline.transitions.arc_eager import sentence_starts
from archcli.pipeline.transitions.nonproj import deprojectivize, is_projective, projectivize
from archcli.tokens import Vocab
from archcli.training.conllu import read_conllu
from archcli.training.corpus import Corpus
from archcli.training.iob import read_iob
from archcli.training.loop import train

from .spec_blocks import block_config, spec_blocks
from .util import REPO, write_conllu_slice

PARSER_CFG = REPO / "configs" / "tagger_parser.cfg"
NER_CFG = REPO / "configs" / "ner.cfg"


def _run_oracle(system, batch):
    while True:
        rows = numpy.flatnonzero(~batch.is_final())
        if not len(rows):
            return
        actions = system.oracle_actions(batch, rows)
        view = system.view(batch, rows)
        picked = numpy.arange(len(rows)), actions
        assert system.valid(batch, rows, view)[picked].all()
        assert (system.costs(batch, rows, view)[picked] <= 0).all()
        system.apply(batch, rows, actions, view)


def test_arc_eager_oracle_reproduces_gold_trees(ud_dir, tmp_path):
    path = write_conllu_slice(ud_dir / "dev.conllu", tmp_path / "dev.conllu", 0, 600)
    docs = [doc for doc, _ in read_conllu(path, Vocab())]
    lifted = [projectivize(d.head.tolist(), d.get_strings("dep")) for d in docs]
    assert any(not is_projective(d.head.tolist()) for d in docs), "slice should hold non-projective trees"
    system = ArcEager(sorted({label for _, labels in lifted for label in labels}))
    golds = [system.gold_arrays(h, l, [True] * len(h)) for h, l in lifted]
    batch = system.init_batch([len(d) for d in docs], golds)
    _run_oracle(system, batch)
    restored = 0
    for row, (doc, (heads, labels)) in enumerate(zip(docs, lifted)):
        got_heads, got_labels = system.finalize(batch, row)
        assert got_heads.tolist() == list(heads) and got_labels == list(labels)
        original = deprojectivize(got_heads.tolist(), got_labels)
        restored += original == (doc.head.tolist(), doc.get_strings("dep"))
    # Lifting is lossless except where the head label is ambiguous (rare).
    assert restored >= len(docs) - 1


def test_biluo_oracle_reproduces_gold_entities(tmp_path):
    from .conftest import CORPORA

    docs = [doc for doc, _ in read_iob(CORPORA / "uner_en_ewt" / "dev.iob2", Vocab(), limit=80)]
    entities = [[(e.start, e.end, e.label_) for e in d.ents] for d in docs]
    system = BiluoPushDown(sorted({e[2] for ents in entities for e in ents}))
    golds = [system.gold_codes(len(d), ents, True) for d, ents in zip(docs, entities)]
    batch = system.init_batch([len(d) for d in docs], golds)
    _run_oracle(system, batch)
    assert [system.finalize(batch, row) for row in range(len(docs))] == entities
    assert sum(map(len, entities)) > 100


def test_spec_block_builds_and_parses(spec_text, sample_docs):
    config = block_config(spec_blocks(spec_text)["spacy.TransitionBasedParser.v2"])
    model = registry.resolve(config)["model"]
    assert model.attrs["state_type"] == "ner" and model.attrs["n_features"] == 3
    model.set_dim("nO", 9)
    model.initialize(X=sample_docs)
    # The upper layer starts at zero; give it weights so gradients reach the lower layer too.
    upper = model.get_ref("upper")
    upper.set_param("W", numpy.random.default_rng(0).normal(size=upper.get_param("W").shape).astype("f"))
    step_model, finish = model(sample_docs, is_train=True)
    ids = numpy.array([[0, -1, 1], [2, 3, -1]])
    scores, handle = step_model.predict_states(step_model.global_ids(numpy.array([0, 2]), ids))
    assert scores.shape == (2, 9)
    step_model.backprop_states(handle, numpy.ones_like(scores))
    finish()
    assert upper.get_grad("W").any() and model.get_ref("lower").get_grad("W").any()


@pytest.fixture(scope="module")
def trained_parser(ud_dir, tmp_path_factory):
    from archcli.config import load_config

    tmp = tmp_path_factory.mktemp("parser")
    train_path = write_conllu_slice(ud_dir / "train.conllu", tmp / "train.conllu", 0, 2000)
    dev_path = write_conllu_slice(ud_dir / "dev.conllu", tmp / "dev.conllu", 0, 200)
    config = load_config(PARSER_CFG, overrides={
        "paths.train": str(train_path), "paths.dev": str(dev_path),
        "training.max_steps": 250, "training.eval_frequency": 250,
        "training.batcher.size.start": 400,
    })
    return train(config, tmp / "out"), tmp


@pytest.mark.slow
def test_parser_learns_real_trees(trained_parser, ud_dir, tmp_path):
    nlp, tmp = trained_parser
    held_out = write_conllu_slice(ud_dir / "dev.conllu", tmp_path / "held.conllu", 1200, 300)
    loaded = load(tmp / "out" / "model-last")
    scores = loaded.evaluate(list(Corpus(held_out)(loaded)))
    # Attaching every word to its neighbour gives roughly 30% UAS on EWT.
    assert scores["dep_uas"] > 0.55, scores["dep_uas"]
    assert scores["dep_las"] > 0.4 and scores["sents_f"] > 0.2
    assert "nsubj" in scores["dep_las_per_type"]


@pytest.mark.slow
def test_parser_save_load_identical(trained_parser):
    nlp, tmp = trained_parser
    loaded = load(tmp / "out" / "model-last")
    texts = ["The old man sold his house to a young couple last spring.", "Did you see it? I did not."]
    a = [(d.head.tolist(), d.get_strings("dep")) for d in nlp.pipe(texts)]
    b = [(d.head.tolist(), d.get_strings("dep")) for d in loaded.pipe(texts)]
    assert a == b


@pytest.mark.slow
def test_ner_learns_real_entities(tmp_path):
    from archcli.config import load_config
    from .conftest import CORPORA

    config = load_config(NER_CFG, overrides={
        "paths.train": str(CORPORA / "uner_en_ewt" / "train.iob2"),
        "paths.dev": str(CORPORA / "uner_en_ewt" / "dev.iob2"),
        "corpora.train.limit": 400, "corpora.dev.limit": 40,
        "training.max_steps": 300, "training.eval_frequency": 300,
    })
    nlp = train(config, tmp_path / "out")
    loaded = load(tmp_path / "out" / "model-last")
    held = list(Corpus(CORPORA / "uner_en_ewt" / "dev.iob2")(loaded))[100:180]
    scores = loaded.evaluate(held)
    assert scores["ents_f"] > 0.25, scores["ents_f"]
    docs = [eg.reference.copy(annotations=False) for eg in held[:5]]
    a = [[(e.start, e.end, e.label_) for e in d.ents] for d in nlp.pipe([d.copy(annotations=False) for d in docs])]
    b = [[(e.start, e.end, e.label_) for e in d.ents] for d in loaded.pipe(docs)]
    assert a == b


@pytest.mark.parametrize("rows,needle", [
    ("1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n2\tthe\tthe\tDET\tDT\t_\t3\tdet\t_\t_\n"
     "3\tway\tway\tNOUN\tNN\t_\t2\tobj\t_\t_\n", "cycle"),
    ("1\tA\ta\tDET\tDT\t_\t0\troot\t_\t_\n2\tdog\tdog\tNOUN\tNN\t_\t0\troot\t_\t_\n", "2 roots"),
])
def test_bad_trees_name_file_and_line(tmp_path, rows, needle):
    path = tmp_path / "bad.conllu"
    path.write_text("# text = ok\n" + rows + "\n")
    with pytest.raises(CorpusError, match=rf"bad.conllu:2.*{needle}|{needle}.*bad.conllu:2"):
        list(read_conllu(path, Vocab()))


@pytest.mark.parametrize("entities,needle", [
    ('[[0, 3, "ORG"], [0, 8, "ORG"]]', "overlap"),
    ('[[0, 40, "ORG"]]', "outside"),
    ('[[1, 4, "ORG"]]', "token boundaries"),
])
def test_bad_entity_spans(tmp_path, entities, needle):
    path = tmp_path / "ents.jsonl"
    path.write_text('{"text": "Acme hired Bob."}\n{"text": "IBM Corp sued.", "entities": ' + entities + "}\n")
    with pytest.raises(CorpusError, match=needle) as info:
        list(Corpus(path)(Pipeline()))
    assert "ents.jsonl:2" in str(info.value)


def test_evaluate_rejects_labels_unseen_in_training(tmp_path):
    from typer.testing import CliRunner

    from archcli.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["train", str(NER_CFG), "--output", str(tmp_path / "out"),
                                 "--training.max_steps", "3", "--training.eval_frequency", "3"])
    assert result.exit_code == 0, result.output
    data = tmp_path / "new_label.jsonl"
    data.write_text('{"text": "Ana lives in Lima.", "entities": [[0, 3, "PER"]]}\n'
                    '{"text": "Acme bought Zeta.", "entities": [[0, 4, "COMPANY"]]}\n')
    result = runner.invoke(app, ["evaluate", str(tmp_path / "out" / "model-last"), str(data)])
    assert result.exit_code == 1
    assert "COMPANY" in result.output and "new_label.jsonl:2" in result.output


def _multi_sentence_batch(ud_dir, tmp_path, n_lines):
    """Initial states for 10-sentence docs from the first `n_lines` of UD EWT dev, with gold starts."""
    path = write_conllu_slice(ud_dir / "dev.conllu", tmp_path / "dev.conllu", 0, n_lines)
    docs = [doc for doc, _ in read_conllu(path, Vocab(), n_sents=10)]
    lifted = [projectivize(d.head.tolist(), d.get_strings("dep")) for d in docs]
    system = ArcEager(sorted({label for _, labels in lifted for label in labels}))
    golds = [system.gold_arrays(h, l, [True] * len(h), d.sent_start) for d, (h, l) in zip(docs, lifted)]
    return system, docs, lifted, system.init_batch([len(d) for d in docs], golds)


def test_arc_eager_oracle_marks_gold_sentence_starts(ud_dir, tmp_path):
    # Multi-sentence docs: the oracle must BREAK exactly at the gold sentence starts, and no arc
    # may cross a marked start.
    system, docs, lifted, batch = _multi_sentence_batch(ud_dir, tmp_path, 300)
    _run_oracle(system, batch)
    n_breaks = 0
    for row, (doc, (heads, labels)) in enumerate(zip(docs, lifted)):
        got_heads, got_labels = system.finalize(batch, row)
        assert got_heads.tolist() == list(heads) and got_labels == list(labels)
        gold_starts = doc.sent_start == 1
        marked = batch.sent_start[row, : len(doc)]
        assert (marked == gold_starts)[1:].all()
        assert (sentence_starts(got_heads) == gold_starts).all()
        n_breaks += int(marked.sum())
    assert n_breaks > 2 * len(docs)


def test_arc_eager_segments_start_after_a_break(ud_dir, tmp_path):
    # Training stretches begin at a sentence start with an empty stack; the oracle still
    # reproduces the gold tree of each stretch.
    system, docs, lifted, batch = _multi_sentence_batch(ud_dir, tmp_path, 200)
    segments = system.gold_segments(batch, [d.sent_start == 1 for d in docs], max_tokens=40)
    assert len(segments) > len(docs)
    starts = segments.b0[segments.b0 > 0]
    assert (segments.depth[segments.b0 > 0] == 0).all() and segments.sent_start[segments.b0 > 0, starts].all()
    # Each stretch sees the rest of its doc but is trained only for about its own words' moves.
    assert (segments.length == numpy.asarray([len(docs[d]) for d in segments.doc])).all()
    assert (segments.move_limit < 2 * segments.length + 50).sum() >= len(segments) - len(docs)
    _run_oracle(system, segments)
    for row in range(len(segments)):
        doc_id = int(segments.doc[row])
        heads, _ = lifted[doc_id]
        end = int(segments.length[row])
        got = segments.head[row, :end]
        expected = numpy.asarray(heads[:end])
        expected = numpy.where(expected == numpy.arange(end), -1, expected)
        assert (got == expected).all()


def test_arc_eager_unshift_and_non_monotonic_left():
    # spaCy's arc-eager: REDUCE of a headless word that is not the stack's last puts it back at the
    # front of the buffer (not shiftable again), and LEFT may replace a head given by RIGHT.
    system = ArcEager(["dep", "nsubj"])
    left_dep, right_dep = 2, 2 + len(system.labels)
    batch = system.init_batch([3])
    rows = numpy.asarray([0])

    def step(action):
        view = system.view(batch, rows)
        assert system.valid(batch, rows, view)[0, action], system.action_names()[action]
        system.apply(batch, rows, numpy.asarray([action]), view)

    step(0)  # SHIFT 0
    step(0)  # SHIFT 1: stack [0, 1], buffer [2]
    view = system.view(batch, rows)
    assert not system.valid(batch, rows, view)[0, 0], "the last word cannot be shifted onto a non-empty stack"
    step(right_dep)  # 1 -> 2, push 2: stack [0, 1, 2], buffer empty
    assert not batch.is_final()[0]
    step(1)  # REDUCE 2 (has a head): popped
    step(1)  # REDUCE 1 (no head, not the last): unshifted
    assert batch.n_rebuffer[0] == 1 and batch.rebuffer[0, 0] == 1 and batch.unshiftable[0, 1]
    view = system.view(batch, rows)
    assert view.b0[0] == 1 and view.s0[0] == 0 and view.buffer_length[0] == 1
    step(right_dep)  # 0 -> 1, pushed back from the rebuffer: stack [0, 1]
    assert batch.n_rebuffer[0] == 0 and batch.head[0, 1] == 0
    step(1)  # REDUCE 1 (has a head)
    step(1)  # REDUCE 0 (the last word): popped as the root
    assert batch.is_final()[0]
    heads, labels = system.finalize(batch, 0)
    assert heads.tolist() == [0, 0, 1] and labels == ["ROOT", "dep", "dep"]

    # LEFT replaces a RIGHT arc and fixes the old head's rightmost child.
    batch = system.init_batch([3])
    step(0)  # SHIFT 0
    step(right_dep)  # 0 -> 1: stack [0, 1]
    assert batch.rchild[0, 0, 0] == 1
    step(left_dep + 1)  # LEFT nsubj: 1 <- 2 replaces 0 -> 1
    assert batch.head[0, 1] == 2 and batch.label[0, 1] == 1 and batch.rchild[0, 0, 0] == -1
    assert batch.lchild[0, 2, 0] == 1


def test_arc_eager_unshift_repairs_a_missed_arc():
    # Gold: 0 is the root, 1 <- 0, 2 <- 1. After a wrong SHIFT of 1 the arc 0 -> 1 looks lost, but
    # REDUCE with an empty buffer unshifts 1, so (as in spaCy) its cost is negative and the
    # oracle still reaches the gold tree.
    system = ArcEager(["dep"])
    gold = system.gold_arrays(numpy.asarray([0, 0, 1]), ["ROOT", "dep", "dep"], [True] * 3)
    batch = system.init_batch([3], [gold])
    rows = numpy.asarray([0])
    right = 2 + len(system.labels)
    for action in (0, 0, right, 1):  # SHIFT 0, SHIFT 1 (wrong), RIGHT 1 -> 2, REDUCE 2
        system.apply(batch, rows, numpy.asarray([action]))
    view = system.view(batch, rows)
    assert view.buffer_length[0] == 0 and view.s0[0] == 1 and batch.head[0, 1] == -1
    costs = system.costs(batch, rows, view)
    assert costs[0, 1] == -1  # REDUCE = unshift 1: keeps 0 -> 1 reachable
    while not batch.is_final()[0]:
        system.apply(batch, rows, system.oracle_actions(batch, rows))
    heads, labels = system.finalize(batch, 0)
    assert heads.tolist() == [0, 0, 1] and labels == ["ROOT", "dep", "dep"]


def _ner_pipeline():
    config = Config().from_str('[nlp]\nlang = "en"\npipeline = ["ner"]\n\n[components]\n\n[components.ner]\nfactory = "ner"\n')
    return Pipeline.from_config(config)


def _ner_examples():
    from archcli.tokens import Span
    from archcli.tokens.example import Example

    nlp = Pipeline()
    doc = nlp.make_doc("Ana lives in Lima .")
    ref = nlp.make_doc("Ana lives in Lima .")
    ref.ents = [Span(ref, 0, 1, "PER"), Span(ref, 3, 4, "LOC")]
    return [Example(doc, ref)]


@pytest.mark.parametrize("bad", [["PER", ""], ["PER", 3]])
def test_initialize_labels_are_checked(bad):
    # Labels from [initialize.components.X] went around set_labels' checks (review item 18).
    nlp = _ner_pipeline()
    ner = nlp.get_pipe("ner")
    with pytest.raises(ArchcliError, match="labels must be non-empty strings"):
        ner.initialize(lambda: _ner_examples(), labels=bad)


def test_initialize_labels_reach_strings_and_rebuild_once(monkeypatch):
    nlp = _ner_pipeline()
    ner = nlp.get_pipe("ner")
    calls = []
    original = type(ner)._labels_changed
    monkeypatch.setattr(type(ner), "_labels_changed", lambda self: calls.append(1) or original(self))
    ner.initialize(lambda: _ner_examples(), labels=["PER", "LOC", "ORG", "ZZZLABEL"])
    assert len(calls) == 1, "moves rebuilt once per set_labels, not once per label"
    assert "ZZZLABEL" in nlp.vocab.strings
    assert ner.labels == ("PER", "LOC", "ORG", "ZZZLABEL")
    assert ner.model.get_dim("nO") == ner.moves.n_actions
    nlp("Ana lives in Lima .")
