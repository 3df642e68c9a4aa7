"""`archcli pretrain` end to end, `init_tok2vec` in training, resuming, and bad input."""
import json
import re
from pathlib import Path
from typing import Dict, List

import numpy
import pytest
from thinc.api import Config
from typer.testing import CliRunner

from archcli.cli import app
from archcli.errors import ArchcliError, ConfigError, CorpusError
from archcli.language import Pipeline
from archcli.training.pretraining import pretrain

from .test_pretrain import (
    CHARS_CFG, RAW_TEXT, SMALL, VECTORS_CFG, model_arrays, small_config, weight_arrays, write_sample_vectors,
)
from .util import interrupt_pretraining_at, write_conllu_slice

runner = CliRunner()


def cli(*args, ok: bool = True) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    else:
        assert result.exit_code == 1, result.output + repr(result.exception)
        assert "Traceback" not in result.output
    return result.output


def overrides(values: Dict[str, object]) -> List[str]:
    args: List[str] = []
    for key, value in values.items():
        args += [f"--{key}", json.dumps(value)]
    return args


def weight_files(path: Path) -> List[str]:
    """The weight files (and temporaries) in `path`; a refused run creates no folder at all."""
    if not path.exists():
        return []
    return sorted(p.name for p in path.iterdir() if p.suffix == ".bin" or ".tmp" in p.name)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """One CLI run shared by the tests that only read its output (2 epochs, characters)."""
    out = tmp_path_factory.mktemp("pretrain") / "out"
    output = cli("pretrain", CHARS_CFG, out, "--paths.raw_text", RAW_TEXT, *overrides(SMALL))
    assert "# WORDS" in output and "W/S" in output
    return out


@pytest.fixture(scope="module")
def ud_slice(tmp_path_factory, ud_dir):
    tmp = tmp_path_factory.mktemp("ud")
    return (write_conllu_slice(ud_dir / "train.conllu", tmp / "train.conllu", 0, 60),
            write_conllu_slice(ud_dir / "dev.conllu", tmp / "dev.conllu", 0, 20))


def test_pretrain_writes_weights_log_and_config(pretrained):
    assert weight_files(pretrained) == ["model-last.bin", "model0.bin", "model1.bin"]
    log = [json.loads(line) for line in (pretrained / "log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [0, 1, 2]
    assert [row["file"] for row in log] == ["model0.bin", "model1.bin", "model-last.bin"]
    assert log[0]["nr_word"] > 1000 and log[1]["nr_word"] == 2 * log[0]["nr_word"]
    assert 0 < log[0]["epoch_loss"] and log[1]["loss"] == pytest.approx(log[0]["loss"] + log[1]["epoch_loss"])
    assert Config().from_disk(pretrained / "config.cfg")["pretraining"]["max_epochs"] == 2
    # The files are the tok2vec's to_bytes(): they load into a freshly built one.
    nlp = Pipeline.from_config(small_config())
    tok2vec = nlp.get_pipe("tok2vec").model
    tok2vec.initialize(X=[nlp.make_doc("Shapes first.")])
    tok2vec.from_bytes((pretrained / "model1.bin").read_bytes())
    assert len(tok2vec.predict([nlp.make_doc("It loads.")])[0]) == 3


def test_init_tok2vec_starts_training_from_exactly_those_weights(pretrained, ud_slice):
    from archcli.training.loop import train

    weights = pretrained / "model1.bin"
    train_path, dev_path = ud_slice
    config = small_config(**{"paths.train": str(train_path), "paths.dev": str(dev_path),
                             "paths.init_tok2vec": str(weights)})
    nlp = Pipeline.from_config(config)
    examples = _read(nlp, train_path)
    nlp.initialize(lambda: examples)
    loaded = model_arrays(nlp.get_pipe("tok2vec").model)
    expected = weight_arrays(weights.read_bytes())
    assert len(loaded) == len(expected) > 10
    for a, b in zip(loaded, expected):
        numpy.testing.assert_array_equal(a, b)
    # Without init_tok2vec the same seed gives different (random) weights.
    config["paths"]["init_tok2vec"] = None
    fresh = Pipeline.from_config(config)
    fresh_examples = _read(fresh, train_path)  # tags are keys into the reading pipeline's strings
    fresh.initialize(lambda: fresh_examples)
    assert not all(numpy.array_equal(a, b) for a, b in zip(model_arrays(fresh.get_pipe("tok2vec").model), expected))
    # And `archcli train` runs from them (tok2vec weights at step 0 are the pretrained ones).
    seen = {}

    def capture(nlp, info):
        if info["step"] == 0:
            seen["arrays"] = [a.copy() for a in model_arrays(nlp.get_pipe("tok2vec").model)]

    config["paths"]["init_tok2vec"] = str(weights)
    config["training"]["max_steps"] = 2
    config["training"]["eval_frequency"] = 2
    from archcli import registry

    registry.callbacks.register("test_pretrain.capture.v1", func=lambda: capture)
    config["training"]["before_update"] = {"@callbacks": "test_pretrain.capture.v1"}
    train(config)
    for a, b in zip(seen["arrays"], expected):
        numpy.testing.assert_array_equal(a, b)


def _read(nlp, path):
    from archcli.training.corpus import Corpus

    return list(Corpus(path)(nlp))


def test_train_cli_with_init_tok2vec(pretrained, ud_slice, tmp_path):
    train_path, dev_path = ud_slice
    small = {k: v for k, v in SMALL.items() if k.startswith("components.")}
    cli("train", CHARS_CFG, "--paths.train", train_path, "--paths.dev", dev_path,
        "--paths.init_tok2vec", pretrained / "model0.bin", "--training.max_steps", "4",
        "--training.eval_frequency", "2", *overrides(small))
    # A tok2vec of another width: the message names both shapes, exit 1.
    output = cli("train", CHARS_CFG, "--paths.train", train_path, "--paths.dev", dev_path,
                 "--paths.init_tok2vec", pretrained / "model0.bin", "--training.max_steps", "4",
                 *overrides(dict(small, **{"components.tok2vec.model.width": 48})), ok=False)
    flat = " ".join(output.split())
    assert "model0.bin" in flat and "output width 32" in flat and "output width 48" in flat
    assert re.search(r"\(32, 3, \d+\) in the file but \(48, 3, \d+\) in the model", flat)
    # A file that is not a weights file at all.
    output = cli("train", CHARS_CFG, "--paths.train", train_path, "--paths.dev", dev_path,
                 "--paths.init_tok2vec", pretrained / "log.jsonl", *overrides(small), ok=False)
    assert "not a weights file" in " ".join(output.split())
    output = cli("train", CHARS_CFG, "--paths.train", train_path, "--paths.dev", dev_path,
                 "--paths.init_tok2vec", tmp_path / "missing.bin", *overrides(small), ok=False)
    assert "initialize.init_tok2vec" in output and "not found" in output


def test_resume_continues_from_the_right_epoch(pretrained, tmp_path):
    out = tmp_path / "resumed"
    config = small_config(**{"pretraining.max_epochs": 3})
    summary = pretrain(config, out, resume_path=pretrained / "model0.bin", silent=True)
    assert summary["epochs"] == [1, 2]
    assert weight_files(out) == ["model-last.bin", "model1.bin", "model2.bin"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1, 2, 3]
    # Resuming at max_epochs trains nothing: model-last.bin holds exactly the loaded weights.
    again = tmp_path / "again"
    pretrain(small_config(**{"pretraining.max_epochs": 1}), again, resume_path=pretrained / "model0.bin", silent=True)
    for a, b in zip(weight_arrays((again / "model-last.bin").read_bytes()),
                    weight_arrays((pretrained / "model0.bin").read_bytes())):
        numpy.testing.assert_array_equal(a, b)
    # A renamed file needs --epoch-resume; with it, counting starts there.
    renamed = tmp_path / "weights.bin"
    renamed.write_bytes((pretrained / "model1.bin").read_bytes())
    output = cli("pretrain", CHARS_CFG, tmp_path / "r1", "--resume-path", renamed, *overrides(SMALL), ok=False)
    assert "--epoch-resume" in output
    summary = pretrain(small_config(), tmp_path / "r2", resume_path=renamed, epoch_resume=1, silent=True)
    assert summary["epochs"] == [1]
    with pytest.raises(ArchcliError, match="--epoch-resume needs --resume-path"):
        pretrain(small_config(), tmp_path / "r3", epoch_resume=1, silent=True)
    # Weights of another width cannot be resumed from.
    with pytest.raises(ArchcliError, match=r"output width 32.*output width 40"):
        pretrain(small_config(**{"components.tok2vec.model.width": 40}), tmp_path / "r4",
                 resume_path=pretrained / "model0.bin", silent=True)
    assert not (tmp_path / "r4").exists() or weight_files(tmp_path / "r4") == []


def test_n_save_every_and_n_save_epoch(tmp_path):
    summary = pretrain(small_config(**{"pretraining.max_epochs": 3, "pretraining.n_save_epoch": 2,
                                       "pretraining.n_save_every": 2}), tmp_path / "out", silent=True)
    files = weight_files(tmp_path / "out")
    # Epochs 0 and 2 (the last), the .temp file of each epoch, and model-last.bin.
    assert files == ["model-last.bin", "model0.bin", "model0.temp.bin", "model1.temp.bin", "model2.bin",
                     "model2.temp.bin"]
    assert summary["nr_word"] > 0


def test_pretrain_vectors_cli(vectors_path, tmp_path):
    vectors = write_sample_vectors(vectors_path, tmp_path / "sample.vec")
    out = tmp_path / "out"
    cli("pretrain", VECTORS_CFG, out, "--paths.raw_text", RAW_TEXT, "--paths.vectors", vectors,
        *overrides(dict(SMALL, **{"pretraining.max_epochs": 1})))
    assert weight_files(out) == ["model-last.bin", "model0.bin"]
    # Missing vectors: clear message, exit 1, no weights.
    output = cli("pretrain", VECTORS_CFG, tmp_path / "novec", "--paths.raw_text", RAW_TEXT,
                 "--paths.vectors", "null", *overrides(SMALL), ok=False)
    assert "initialize.vectors" in output and "no vectors table" in " ".join(output.split())
    assert not (tmp_path / "novec").exists()  # refused before anything was written


def test_init_config_pretraining_block(tmp_path):
    for pipeline, component, layer in (("tok2vec,tagger", "tok2vec", ""), ("tagger", "tagger", "tok2vec")):
        path = tmp_path / f"{component}.cfg"
        cli("init-config", path, "--pipeline", pipeline, "--pretraining")
        config = Config().from_disk(path, interpolate=False)
        block = config["pretraining"]
        assert (block["component"], block["layer"]) == (component, layer)
        assert block["objective"]["@architectures"] == "spacy.PretrainCharacters.v1"
        assert config["corpora"]["pretrain"]["@readers"] == "spacy.JsonlCorpus.v1"
        assert "raw_text" in config["paths"]
        small = {"pretraining.max_epochs": 1, "pretraining.objective.hidden_size": 16,
                 "corpora.pretrain.limit": 10}
        cli("pretrain", path, tmp_path / f"out_{component}", "--paths.raw_text", RAW_TEXT, *overrides(small))
        assert (tmp_path / f"out_{component}" / "model0.bin").exists()
    assert "[pretraining]\n\n[initialize]" in cli("init-config", "-", "--pipeline", "tagger")


# --- bad input -------------------------------------------------------------------------------
def _raw(tmp_path: Path, lines: List[str]) -> Path:
    path = tmp_path / "raw.jsonl"
    good = [json.dumps({"text": "A perfectly ordinary sentence about the weather today."})] * 6
    path.write_text("\n".join(good + lines + good) + "\n", encoding="utf8")
    return path


@pytest.mark.parametrize("line,reason", [
    ('{"text": "unterminated', "not valid JSON"),
    ('["a", "list"]', "not a JSON object"),
    ('{"txt": "wrong key"}', 'expected an object with a "text" string'),
    ('{"text": ""}', "empty text"),
    ('{"tokens": ["ok", 3]}', '"tokens" must be a list of non-empty strings'),
])
def test_malformed_raw_text_line_stops_with_its_line_number(tmp_path, line, reason):
    raw = _raw(tmp_path, [line])
    out = tmp_path / "out"
    output = " ".join(cli("pretrain", CHARS_CFG, out, "--paths.raw_text", raw, *overrides(SMALL), ok=False).split())
    assert f"raw.jsonl:7: {reason}" in output and 'on_error = "skip"' in output
    assert weight_files(out) == []


def test_malformed_lines_skipped_when_configured(tmp_path, capsys):
    raw = _raw(tmp_path, ['{"text": "unterminated', '{"text": "   "}', '{"tokens": ["Pre", "split", "words", "are", "fine"]}'])
    summary = pretrain(small_config(**{"paths.raw_text": str(raw), "corpora.pretrain.on_error": "skip"}),
                       tmp_path / "out", silent=True)
    err = capsys.readouterr().err
    assert "raw.jsonl:7: not valid JSON" in err and "raw.jsonl:8: empty text" in err
    assert err.count("raw.jsonl:7") == 1  # reported once, not once per epoch
    assert summary["nr_word"] == 2 * (12 * 9 + 5)
    with pytest.raises(CorpusError, match='on_error must be "stop" or "skip"'):
        pretrain(small_config(**{"corpora.pretrain.on_error": "ignore"}), tmp_path / "x", silent=True)


@pytest.mark.parametrize("setting,value,where,text", [
    ("pretraining.component", "parser", "pretraining.component", "no component named 'parser'"),
    ("pretraining.layer", "encoder", "pretraining.layer", "has no layer 'encoder'"),
    ("pretraining.max_epoch", 3, "pretraining.max_epoch", "max_epoch"),
    ("pretraining.corpus", "corpora.nothing", "corpora.nothing", "no section"),
])
def test_bad_pretraining_settings(tmp_path, setting, value, where, text):
    with pytest.raises(ConfigError) as err:
        pretrain(small_config(**{setting: value}), tmp_path / "out", silent=True)
    assert where in str(err.value) and text in str(err.value)
    assert not (tmp_path / "out").exists()


def test_missing_raw_text_path(tmp_path):
    output = cli("pretrain", CHARS_CFG, tmp_path / "out", *overrides(dict(SMALL, **{"paths.raw_text": None})), ok=False)
    assert "corpora.pretrain.path" in output and "paths.raw_text" in output
    output = cli("pretrain", CHARS_CFG, tmp_path / "out", "--paths.raw_text", tmp_path / "none.jsonl", ok=False)
    assert "does not exist" in output


def test_no_half_written_weights_on_interrupt(tmp_path, monkeypatch):
    """Interrupted in epoch 1: model0.bin complete, model-last.bin saved, no temporary files."""
    from archcli import fileio

    interrupt_pretraining_at(monkeypatch, 8)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        pretrain(small_config(), out, silent=True)
    assert weight_files(out) == ["model-last.bin", "model0.bin"]
    # A write that fails half-way leaves no file under the final name.
    monkeypatch.undo()  # updates run normally again

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        pretrain(small_config(), tmp_path / "broken", silent=True)
    assert weight_files(tmp_path / "broken") == []
