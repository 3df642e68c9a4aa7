"""Training faults a new user meets: the last model, runaway training, bad values, bad output
paths, full disks, killed runs, data without the annotation a component is scored on, and bugs
that must keep their tracebacks. Each CLI case checks the exit code, one message naming the
key or file, no traceback, and that the previous run's files are untouched."""
import errno
import fractions
import json
import os
from pathlib import Path

import numpy
import pytest
from thinc.api import Config
from typer.testing import CliRunner

from archcli.cli import app
from archcli.config import resolve_block
from archcli.errors import ArchcliError, ConfigError
from archcli.ml.checks import bad_argument
from archcli import registry

from .conftest import SAMPLES
from .util import TAGGER_CFG

REPO = Path(__file__).resolve().parent.parent
TRAIN = SAMPLES / "conllu" / "train.conllu"
DEV = SAMPLES / "conllu" / "dev.conllu"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_user_error(result, *needles):
    assert result.exit_code == 1, result.output + repr(result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    for needle in needles:
        assert needle in text, result.output


def train(out, *extra):
    return run("train", TAGGER_CFG, "--output", out, "--paths.train", TRAIN, "--paths.dev", DEV, *extra)


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory):
    """A finished short run: model-best, model-last and training_log.jsonl."""
    out = tmp_path_factory.mktemp("previous") / "out"
    result = train(out, "--training.max_steps", "4", "--training.eval_frequency", "2")
    assert result.exit_code == 0, result.output
    return out


def snapshot(out: Path):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def copy_run(previous_run, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(previous_run, out)
    return out


# --- item 3: model-last is the last model -------------------------------------------------------

def test_model_last_is_saved_at_the_last_step_whatever_eval_frequency(tmp_path):
    out = tmp_path / "out"
    result = run("train", REPO / "configs" / "pretrain_characters.cfg", "--output", out,
                 "--training.max_steps", "5", "--paths.train", TRAIN, "--paths.dev", DEV)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "model-last" / "meta.json").read_text())
    assert meta["training"]["step"] == 5
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [0, 5]


# --- item 12: runaway training -------------------------------------------------------------------

def test_diverging_training_stops_and_keeps_finite_models(previous_run, tmp_path):
    from archcli.language import load
    from archcli.training.loop import nonfinite_weights

    out = copy_run(previous_run, tmp_path)
    result = train(out, "--training.optimizer.learn_rate", "1e6", "--training.max_steps", "40",
                   "--training.eval_frequency", "10")
    assert_user_error(result, "step", "diverged", "learn_rate")
    assert "component '" in result.output
    for name in ("model-last", "model-best"):
        assert nonfinite_weights(load(out / name)) is None


def test_evaluate_refuses_a_model_with_nan_weights(previous_run, tmp_path):
    from archcli.language import load

    nlp = load(previous_run / "model-last")
    model = nlp.get_pipe("tagger").model
    node = next(n for n in model.walk() if n.has_param("W"))
    W = node.get_param("W").copy()
    W[0, 0] = numpy.nan
    node.set_param("W", W)
    nlp.to_disk(tmp_path / "nan-model")
    result = run("evaluate", tmp_path / "nan-model", DEV)
    assert_user_error(result, "non-finite", "tagger")


# --- item 15: values checked before data or the output directory --------------------------------

@pytest.mark.parametrize("key,value", [
    ("training.max_steps", "abc"), ("training.patience", "abc"), ("training.eval_frequency", "0"),
    ("training.dropout", "1.5"), ("training.dropout", "abc"), ("nlp.batch_size", "0"), ("nlp.batch_size", "abc"),
    ("training.accumulate_gradient", "0"), ("system.seed", "abc"), ("training.batcher.size.start", "0"),
])
def test_bad_training_values_fail_before_reading_data(previous_run, tmp_path, key, value):
    out = copy_run(previous_run, tmp_path)
    before = snapshot(out)
    result = train(out, "--training.max_steps", "2", f"--{key}", value)
    assert_user_error(result, key)
    assert "Reading training corpus" not in result.output
    assert snapshot(out) == before


def test_unknown_training_key_in_the_file_is_refused(tmp_path):
    text = TAGGER_CFG.read_text().replace("max_steps = 20000", "max_step = 5")
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(text)
    result = run("train", cfg, "--output", tmp_path / "out", "--training.max_steps", "2")
    assert_user_error(result, "training.max_step", "max_steps")


# --- item 16: output paths ------------------------------------------------------------------------

def test_output_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    assert_user_error(train(target, "--training.max_steps", "1"), str(target), "file")
    assert_user_error(train(target / "sub", "--training.max_steps", "1"), "is a file")
    assert target.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only directory")
def test_output_in_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert_user_error(train(locked / "out", "--training.max_steps", "1"), "permission denied")
    finally:
        locked.chmod(0o700)


def test_output_permission_check(tmp_path, monkeypatch):
    import archcli.fileio as fileio

    monkeypatch.setattr(fileio, "_writable", lambda directory: False)
    assert_user_error(train(tmp_path / "out", "--training.max_steps", "1"), "permission denied")
    assert not (tmp_path / "out").exists()


def test_full_disk_during_save_is_one_message_and_keeps_the_last_model(previous_run, tmp_path, monkeypatch):
    from archcli.pipeline.base import TrainablePipe

    out = copy_run(previous_run, tmp_path)
    before = {k: v for k, v in snapshot(out).items() if k.startswith("model-")}

    def full(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(TrainablePipe, "to_disk", full)
    result = train(out, "--training.max_steps", "2")
    assert_user_error(result, "No space left on device", "model-")
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    assert {k: v for k, v in snapshot(out).items() if k.startswith("model-")} == before


def test_new_run_cleans_temporaries_of_a_killed_one(previous_run, tmp_path):
    from archcli.fileio import clean_stale_siblings

    out = copy_run(previous_run, tmp_path)
    dead = f"{2 ** 22 + 12345}-0123abcd"  # a pid above the default pid_max: never a live process
    (out / f".model-last.tmp-{dead}").mkdir()
    (out / f".model-last.tmp-{dead}" / "half").write_text("x")
    best = snapshot(out / "model-best")
    os.replace(out / "model-best", out / f".model-best.old-{dead}")  # killed between the renames
    for name in ("model-best", "model-last"):
        clean_stale_siblings(out / name)
    assert sorted(p.name for p in out.iterdir()) == ["model-best", "model-last", "training_log.jsonl"]
    assert snapshot(out / "model-best") == best


# --- item 18: runs that cannot mean anything ----------------------------------------------------

def _strip_tags(src: Path, dest: Path) -> Path:
    lines = []
    for line in src.read_text(encoding="utf8").splitlines():
        cols = line.split("\t")
        if len(cols) == 10:
            cols[3] = cols[4] = "_"
        lines.append("\t".join(cols))
    dest.write_text("\n".join(lines) + "\n", encoding="utf8")
    return dest


def test_dev_set_without_tags_warns(tmp_path):
    dev = _strip_tags(DEV, tmp_path / "dev.conllu")
    result = run("train", TAGGER_CFG, "--paths.train", TRAIN, "--paths.dev", dev, "--training.max_steps", "1")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "has no tag annotation, which 'tagger' is scored on" in text


def test_score_weight_naming_no_score_is_refused_with_suggestion(tmp_path):
    result = train(tmp_path / "out", "--training.max_steps", "2", "--training.score_weights.tag_accc", "1.0")
    assert_user_error(result, "training.score_weights.tag_accc", "tag_acc'?")
    assert not (tmp_path / "out").exists()


def test_spacy_written_score_weights_train(tmp_path):
    """`spacy init config` gives the tagger zero/null weights on keys its scorer never produces
    (pos_acc, tag_micro_*): a config written by spaCy must train unchanged."""
    weights = {"tag_acc": 1.0, "pos_acc": 0.0, "tag_micro_p": None, "tag_micro_r": None, "tag_micro_f": None}
    args = []
    for key, value in weights.items():
        args += [f"--training.score_weights.{key}", "null" if value is None else str(value)]
    result = train(tmp_path / "out", "--training.max_steps", "2", *args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "model-last" / "meta.json").exists()


def test_evaluate_on_data_without_the_annotation_fails(previous_run, tmp_path):
    dev = _strip_tags(DEV, tmp_path / "dev.conllu")
    assert_user_error(run("evaluate", previous_run / "model-last", dev), "no tag annotation", str(dev))


def test_corpus_loading_is_reported(tmp_path):
    result = train(tmp_path / "out", "--training.max_steps", "0", "--training.max_epochs", "1")
    assert result.exit_code == 0, result.output
    assert "Reading training corpus" in result.output and "examples" in result.output


# --- item 6: bugs keep their tracebacks ---------------------------------------------------------

@registry.misc("test_faults.buggy.v1")
def _buggy(width: int = 3):
    return None + width  # a bug inside archcli-side code: TypeError raised inside


@registry.misc("test_faults.numpy_bug.v1")
def _numpy_bug(width: int = 3):
    return numpy.zeros((2, 2)).reshape(width)  # ValueError from a library archcli calls


@registry.misc("test_faults.refuses.v1")
def _refuses(width: int = 3):
    if width <= 0:
        raise bad_argument("test_faults.refuses.v1", "width", f"must be positive, not {width}")
    return width


@registry.misc("test_faults.plain_refusal.v1")
def _plain_refusal(width: int = 3):
    if width <= 0:
        raise ValueError(f"width must be positive, not {width}")  # should have been a ConfigError
    return width


registry.misc("test_faults.fraction.v1")(fractions.Fraction)  # a library function named directly


def test_bug_inside_a_registered_function_keeps_its_traceback():
    with pytest.raises(TypeError):
        resolve_block({"x": {"@misc": "test_faults.buggy.v1"}}, "components.x", validate=False)
    with pytest.raises(ValueError) as info:
        resolve_block({"x": {"@misc": "test_faults.numpy_bug.v1"}}, "components.x", validate=False)
    assert not isinstance(info.value, ArchcliError)


def test_a_plain_value_error_raised_by_called_code_is_a_bug():
    with pytest.raises(ValueError, match="width must be positive") as info:
        resolve_block({"x": {"@misc": "test_faults.plain_refusal.v1", "width": 0}}, "components.x")
    assert not isinstance(info.value, ArchcliError)


def test_user_mistakes_while_building_a_block_are_config_errors():
    with pytest.raises(ConfigError, match="components.x"):
        resolve_block({"x": {"@misc": "test_faults.refuses.v1", "nosuch": 1}}, "components.x", validate=False)
    with pytest.raises(ConfigError, match="width: must be positive"):
        resolve_block({"x": {"@misc": "test_faults.refuses.v1", "width": 0}}, "components.x")
    with pytest.raises(ConfigError, match="components.x"):  # the library refused the config's value
        resolve_block({"x": {"@misc": "test_faults.fraction.v1", "numerator": "abc"}}, "components.x",
                      validate=False)


def test_archcli_installed_in_site_packages_is_not_a_library(monkeypatch):
    import archcli.config as config_module

    monkeypatch.setattr(config_module, "_ARCHCLI_DIR", "/venv/lib/python3.11/site-packages/archcli", raising=False)
    assert not config_module._is_library("/venv/lib/python3.11/site-packages/archcli/ml/tok2vec.py")
    assert config_module._is_library("/venv/lib/python3.11/site-packages/thinc/model.py")


def test_initialize_keeps_tracebacks_of_bugs(monkeypatch):
    from archcli.pipeline.tok2vec import Tok2Vec
    from archcli.training.initialize import init_vocab_and_components
    from archcli.language import Pipeline

    config = Config().from_disk(TAGGER_CFG)
    nlp = Pipeline.from_config(config)

    def broken(self, get_examples, **kwargs):
        raise ValueError("a bug in archcli")

    monkeypatch.setattr(Tok2Vec, "initialize", broken)
    with pytest.raises(ValueError, match="a bug in archcli") as info:
        init_vocab_and_components(nlp, lambda: [])
    assert not isinstance(info.value, ArchcliError)


# --- item 10: progress between evaluation rows ---------------------------------------------------

def test_shipped_configs_turn_the_progress_bar_on():
    for path in sorted((REPO / "configs").glob("*.cfg")):
        assert Config().from_disk(path, interpolate=False)["training"]["logger"]["progress_bar"] is True, path


def test_console_logger_draws_a_progress_bar_on_a_terminal():
    import io

    from archcli.training.loggers import console_logger

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    class FakePipeline:
        meta = {"score_weights": {"tag_acc": 1.0}}
        pipeline = []

    stdout, stderr = io.StringIO(), Terminal()
    log_step, finalize = console_logger(progress_bar=True)(FakePipeline(), stdout, stderr)
    for step in range(5):
        log_step({"epoch": 0, "step": step, "score": None if step % 4 else 0.5, "other_scores": {"tag_acc": 0.5},
                  "losses": {}, "eval_frequency": 4})
    finalize()
    assert "Epoch 1" in stderr.getvalue() and "/4 " in stderr.getvalue()
    assert stdout.getvalue().count("50.00") == 2


# --- review items 2 and 4: only thinc's width refusal is a config mistake; a bug after the layout
# check keeps its traceback -------------------------------------------------------------------------

def test_only_thincs_width_refusal_counts_as_a_dimension_mismatch():
    from thinc.api import Linear

    from archcli.training.initialize import dimension_mismatch

    layer = Linear(nO=3, nI=2)
    with pytest.raises(ValueError) as changed:
        layer.set_dim("nO", 4)
    assert dimension_mismatch(changed.value)
    with pytest.raises(ValueError, match="dimension") as unset:
        Linear().get_dim("nO")
    assert not dimension_mismatch(unset.value)
    try:
        raise ValueError("Attempt to change dimension 'nO' (raised by archcli)")
    except ValueError as err:
        assert not dimension_mismatch(err)


def test_a_failure_loading_weights_that_fit_is_a_bug(monkeypatch):
    from thinc.api import Linear, Model

    from archcli.training.init_tok2vec import load_weights

    model = Linear(nO=3, nI=2).initialize()
    data = model.to_bytes()

    def broken(self, data):
        raise ValueError("a bug in from_bytes")

    monkeypatch.setattr(Model, "from_bytes", broken)
    with pytest.raises(ValueError, match="a bug in from_bytes") as info:
        load_weights(model, data, where="w.bin", target="the tok2vec")
    assert not isinstance(info.value, ArchcliError)


# --- review item 7: Corpus.max_length splits long docs into sentences, never drops in silence -------

def test_max_length_splits_long_docs_into_sentences_and_counts_what_it_skips(capsys):
    from archcli.language import Pipeline
    from archcli.tokens.doc import Doc, Span
    from archcli.training.corpus import Corpus

    nlp = Pipeline.from_config(Config().from_disk(TAGGER_CFG))
    words = "a b c d e f".split()
    split = Doc(nlp.vocab, words, heads=[1, 1, 1, 4, 4, 4], tags=list("XYZXYZ"),
                sent_starts=[True, False, False, True, False, False])
    split.ents = [Span(split, 4, 6, "LOC")]
    unsplittable = Doc(nlp.vocab, words)
    long_sentence = Doc(nlp.vocab, words + ["g"], sent_starts=[True] + [False] * 5 + [True])
    corpus = Corpus("mem", max_length=4)
    corpus._read_file = lambda path, nlp: iter([(split, "mem#0"), (unsplittable, "mem#1"), (long_sentence, "mem#2")])
    import archcli.training.corpus as corpus_module

    original = corpus_module.walk_corpus
    corpus_module.walk_corpus = lambda path, suffixes: [Path("mem")]
    try:
        examples = list(corpus(nlp))
    finally:
        corpus_module.walk_corpus = original
    docs = [eg.reference for eg in examples]
    assert [d.words for d in docs] == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert docs[1].head.tolist() == [1, 1, 1] and docs[1].get_strings("tag") == ["X", "Y", "Z"]
    assert [(e.start, e.end, e.label_) for e in docs[1].ents] == [(1, 3, "LOC")]
    assert "2 document(s) or sentence(s) longer than max_length = 4 tokens skipped" in capsys.readouterr().err


def test_console_logger_v3_refuses_an_eval_progress_bar():
    from archcli.training.loop import resolve_training

    config = Config().from_disk(TAGGER_CFG, interpolate=False)
    config["training"]["logger"] = {"@loggers": "spacy.ConsoleLogger.v3", "progress_bar": "eval"}
    with pytest.raises(ConfigError, match=r"training\.logger\.progress_bar: .*not 'eval'"):
        resolve_training(config)
    config["training"]["logger"]["progress_bar"] = "train"
    resolve_training(config)


# --- review items 15 and 16: one output-path check, one stale-temporary cleanup ---------------------

def test_pretrain_output_under_a_file_or_unmakeable_is_one_message(tmp_path, monkeypatch):
    cfg = tmp_path / "pretrain.cfg"
    from archcli.init_config import init_config_text

    cfg.write_text(init_config_text(["tok2vec", "tagger"], pretraining=True), encoding="utf8")
    (tmp_path / "file").write_text("x")
    assert_user_error(CliRunner().invoke(app, ["pretrain", str(cfg), str(tmp_path / "file" / "sub")]),
                      "it is a file")

    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", refuse)
    # With a raw-text corpus: the output directory is made only once everything else checks out.
    raw_text = REPO / "corpus_samples" / "raw" / "texts.jsonl"
    assert_user_error(CliRunner().invoke(app, ["pretrain", str(cfg), str(tmp_path / "out"),
                                               "--paths.raw_text", str(raw_text)]),
                      "cannot create the output directory: Read-only file system")


@pytest.mark.parametrize("key,value", [
    ("pretraining.max_epochs", "-1"), ("pretraining.dropout", "2"), ("paths.raw_text", "nope.jsonl"),
    ("pretraining.optimizer.L2", "-1"), ("corpora.pretrain.limit", "-1"),
])
def test_a_refused_pretrain_writes_nothing(tmp_path, key, value):
    """A refused pretrain creates no output folder, and leaves an existing one's config.cfg as it was."""
    cfg = REPO / "configs" / "pretrain_vectors.cfg"
    value = str(tmp_path / value) if key == "paths.raw_text" else value
    assert_user_error(run("pretrain", cfg, tmp_path / "new", f"--{key}", value), key if "raw" not in key else "nope")
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.cfg").write_text("earlier run\n")
    assert_user_error(run("pretrain", cfg, tmp_path / "old", f"--{key}", value))
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["config.cfg"]
    assert (tmp_path / "old" / "config.cfg").read_text() == "earlier run\n"


def test_a_pretrain_writes_its_config_when_training_starts(tmp_path):
    cfg = REPO / "configs" / "pretrain_characters.cfg"
    raw_text = REPO / "corpus_samples" / "raw" / "texts.jsonl"
    result = run("pretrain", cfg, tmp_path / "out", "--paths.raw_text", raw_text, "--pretraining.max_epochs", "1")
    assert result.exit_code == 0, result.output
    saved = Config().from_disk(tmp_path / "out" / "config.cfg")
    assert saved["pretraining"]["max_epochs"] == 1
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_corpus_readers_refuse_negative_sizes_naming_the_key():
    for reader, key, value in [("spacy.Corpus.v1", "max_length", -3), ("spacy.Corpus.v1", "limit", -1),
                               ("archcli.ConlluCorpus.v1", "n_sents", 0), ("spacy.JsonlCorpus.v1", "min_length", -1),
                               ("archcli.JsonlCorpus.v1", "max_length", -1), ("archcli.IobCorpus.v1", "limit", -2)]:
        block = {"train": {"@readers": reader, "path": "x", key: value}}
        with pytest.raises(ConfigError) as info:
            resolve_block(block, "corpora")
        assert f"corpora.train.{key}" in str(info.value), str(info.value)


def test_optimizer_schedule_errors_name_the_key():
    """thinc's own 'Invalid schedule' refusal (a block resolved without validate_settings) names the key."""
    with pytest.raises(ConfigError) as info:
        resolve_block({"optimizer": {"@optimizers": "Adam.v1", "learn_rate": "abc"}}, "pretraining")
    assert "pretraining.optimizer.learn_rate" in str(info.value)
    assert "a number or a schedule" in str(info.value)


def test_a_dir_swap_restores_the_backup_a_killed_swap_left(tmp_path):
    from archcli.fileio import atomic_dir

    target = tmp_path / "model"
    dead = f"{2 ** 22 + 12345}-0123abcd"
    backup = tmp_path / f".model.old-{dead}"
    backup.mkdir()
    (backup / "weights").write_text("last good")
    older = tmp_path / f".model.old-{2 ** 22 + 1}-0123abcd"
    older.mkdir()
    os.utime(older, (1, 1))
    with atomic_dir(target) as tmp:
        assert (target / "weights").read_text() == "last good"  # put back before the swap
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# --- review item 17: one evaluation per step, patience counted from the best step ------------------

def test_patience_evaluates_the_step_it_runs_out_on_once():
    import contextlib

    from archcli.training.loop import train_while_improving

    class FakePipeline:
        pipeline = []

        def update(self, batch, drop, losses, exclude, annotates):
            losses["x"] = losses.get("x", 0.0) + 1.0

        def finish_update(self, optimizer, exclude):
            pass

        def use_params(self, params):
            return contextlib.nullcontext()

    class FakeOptimizer:
        averages = None

        def step_schedules(self):
            pass

    scores = iter([0.5, 0.7, 0.6, 0.6, 0.6, 0.6])
    calls = []

    def evaluate():
        calls.append(1)
        return next(scores), {}

    T = {"dropout": 0.0, "eval_frequency": 3, "accumulate_gradient": 1, "patience": 4, "max_steps": 100,
         "max_epochs": 0, "frozen_components": [], "annotating_components": [],
         "batcher": lambda examples: ([eg] for eg in examples)}
    timings = {"train_seconds": 0.0, "train_words": 0}
    infos = list(train_while_improving(FakePipeline(), FakeOptimizer(), T, [[1, 2]] * 3, evaluate, timings))
    evaluated = [info["step"] for info in infos if info["score"] is not None]
    # best at step 3; patience runs out at step 7, evaluated once and the last step
    assert evaluated == [0, 3, 6, 7] and len(calls) == 4
    assert infos[-1]["step"] == 7


# --- review item 20: the divergence check reads a component's gradients back once ------------------

def test_gradient_check_is_one_device_reduction_per_component(monkeypatch):
    from thinc.api import Linear, chain

    from archcli.training import loop

    model = chain(Linear(nO=3, nI=2), Linear(nO=2, nI=3)).initialize()
    for node in model.walk():
        for param in node.param_names:
            node.inc_grad(param, model.ops.alloc(node.get_param(param).shape) + 1e38)  # sum overflows, finite
    stacks = []
    real_stack = numpy.stack

    def counting_stack(arrays, *args, **kwargs):
        stacks.append(len(arrays))
        return real_stack(arrays, *args, **kwargs)

    monkeypatch.setattr(numpy, "stack", counting_stack)

    class Proc:
        is_trainable = True

    proc = Proc()
    proc.model = model

    class FakePipeline:
        pipeline = [("tagger", proc)]

    loop._check_finite(FakePipeline(), {"tagger": 1.0}, [], 3)
    assert stacks == [4]  # four gradients, one combined reduction
    model.layers[1].get_grad("b")[0] = numpy.nan
    with pytest.raises(loop.TrainingDiverged, match="step 3: a gradient of component 'tagger' \\(linear.b\\)"):
        loop._check_finite(FakePipeline(), {"tagger": 1.0}, [], 3)
