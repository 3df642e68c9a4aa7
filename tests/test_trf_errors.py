"""Bad input to transformer pipelines (issue 17): each case runs the CLI on one user mistake and
expects exit 1, one message naming the config key or path, no traceback, and nothing written
(no output folder from a refused `train`; a refused `evaluate` leaves the model as it was).

The tiny BERT of tests/trf_util.py stands in for real models (64 positions, so windows up to 62).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, List, NamedTuple

import pytest
from typer.testing import CliRunner

from archcli.cli import app

from .test_bad_input import assert_one_clear_error, error_messages, snapshot
from .util import REPO

TRAIN = REPO / "corpus_samples" / "conllu" / "train.conllu"
DEV = REPO / "corpus_samples" / "conllu" / "dev.conllu"
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")

runner = CliRunner()


def invoke(args: List[object]):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output  # click >= 8.2: stdout and stderr interleaved


@pytest.fixture(scope="module")
def trf():
    """The config builders of test_transformers (imported here: that module needs transformers)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from . import test_transformers

    return test_transformers


@pytest.fixture(scope="module")
def bert(tmp_path_factory, trf) -> Path:
    from .trf_util import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("trf-errors") / "bert")


class Env(NamedTuple):
    tmp: Path
    bert: Path
    trf: object

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def model_copy(self, name: str, mutate: Callable[[Path], None]) -> Path:
        path = Path(shutil.copytree(self.bert, self.tmp / name))
        mutate(path)
        return path

    def config(self, *blocks: str, pipeline=("transformer", "tagger")) -> Path:
        path = self.tmp / "trf.cfg"
        path.write_text(self.trf.pipeline_text(*blocks, pipeline=pipeline, training=True), encoding="utf8")
        return path

    def pipeline(self, name=None, *, tagger=None, pipeline=("transformer", "tagger"), **block) -> Path:
        blocks = [self.trf.transformer_block(name or self.bert, **block)] if "transformer" in pipeline else []
        return self.config(*blocks, tagger if tagger is not None else self.trf.tagger_block(), pipeline=pipeline)

    def train(self, cfg: Path, *extra) -> List[object]:
        return ["train", cfg, "--output", self.out, "--paths.train", TRAIN, "--paths.dev", DEV,
                "--training.max_steps", 2, *extra]


@pytest.fixture
def env(tmp_path, bert, trf) -> Env:
    return Env(tmp_path, bert, trf)


def _remove(*names):
    def mutate(path: Path) -> None:
        for name in names:
            (path / name).unlink()

    return mutate


def _corrupt(path: Path) -> None:
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])


KEY = "components.transformer.model.name"


class Case(NamedTuple):
    id: str
    config: Callable[[Env], Path]
    needles: Callable[[Env], List[str]]


TRAIN_CASES = [
    Case("model-dir-missing", lambda e: e.pipeline(e.tmp / "no-such-model"),
         lambda e: [KEY, str(e.tmp / "no-such-model"), "local directory"]),
    Case("hub-name", lambda e: e.pipeline("roberta-base"), lambda e: [KEY, "roberta-base", "local directory"]),
    Case("hub-name-with-owner", lambda e: e.pipeline("FacebookAI/roberta-base"),
         lambda e: [KEY, "FacebookAI/roberta-base", "local directory"]),
    Case("model-dir-is-a-file", lambda e: e.pipeline(_file(e, "model.txt")), lambda e: [KEY, "model.txt"]),
    Case("model-dir-without-tokenizer", lambda e: e.pipeline(e.model_copy("notok", _remove(*TOKENIZER_FILES))),
         lambda e: [KEY, "notok", "tokenizer"]),
    Case("model-dir-without-config-json", lambda e: e.pipeline(e.model_copy("nocfg", _remove("config.json"))),
         lambda e: [KEY, "nocfg", "config.json"]),
    Case("model-dir-without-weights", lambda e: e.pipeline(e.model_copy("now", _remove("model.safetensors"))),
         lambda e: [KEY, "now", "weights"]),
    Case("model-dir-corrupted-weights", lambda e: e.pipeline(e.model_copy("corrupt", _corrupt)),
         lambda e: [KEY, "corrupt"]),
    Case("window-over-model-max-length", lambda e: e.pipeline(window=100, stride=64),
         lambda e: ["components.transformer.model.get_spans.window", "100", "62"]),
    Case("stride-over-window", lambda e: e.pipeline(window=32, stride=40),
         lambda e: ["components.transformer.model.get_spans.stride", "40"]),
    Case("window-zero", lambda e: e.pipeline(window=0, stride=1),
         lambda e: ["components.transformer.model.get_spans.window"]),
    Case("max-batch-items-zero",
         lambda e: e.config(e.trf.transformer_block(e.bert).replace("max_batch_items = 4096", "max_batch_items = 0"),
                            e.trf.tagger_block()),
         lambda e: ["components.transformer.max_batch_items"]),
    Case("model-max-length-not-a-number",
         lambda e: e.config(e.trf.transformer_block(e.bert).replace('tokenizer_config = {"use_fast": true}',
                                                                    'tokenizer_config = {"model_max_length": "long"}'),
                            e.trf.tagger_block()),
         lambda e: ["components.transformer.model.tokenizer_config.model_max_length", "'long'"]),
    Case("listener-upstream-is-the-tagger", lambda e: e.pipeline(tagger=e.trf.tagger_block(upstream="tagger")),
         lambda e: ["components.tagger.model.tok2vec.upstream", "tagger"]),
    Case("listener-upstream-unknown", lambda e: e.pipeline(tagger=e.trf.tagger_block(upstream="bert")),
         lambda e: ["components.tagger.model.tok2vec.upstream", "bert"]),
    Case("listener-without-transformer", lambda e: e.pipeline(pipeline=("tagger",)),
         lambda e: ["components.tagger.model.tok2vec.upstream", "transformer"]),
    Case("listener-before-the-transformer", lambda e: e.pipeline(pipeline=("tagger", "transformer")),
         lambda e: ["components.tagger.model.tok2vec.upstream", "transformer"]),
    Case("listener-pooling-not-a-layer",
         lambda e: e.pipeline(tagger=e.trf.tagger_block().replace('[components.tagger.model.tok2vec.pooling]\n'
                                                                  '@layers = "reduce_mean.v1"\n', "")
                              .replace('upstream = "*"', 'upstream = "*"\npooling = 3')),
         lambda e: ["components.tagger.model.tok2vec.pooling"]),
    # The same mistakes in a Tok2VecTransformer inside the tagger name that block's keys.
    Case("inline-model-dir-missing",
         lambda e: e.config(e.trf.inline_tagger_block(e.tmp / "no-such-model"), pipeline=("tagger",)),
         lambda e: ["components.tagger.model.tok2vec.name", "local directory"]),
    Case("inline-window-over-model-max-length",
         lambda e: e.config(e.trf.inline_tagger_block(e.bert, window=100, stride=64), pipeline=("tagger",)),
         lambda e: ["components.tagger.model.tok2vec.get_spans.window", "62"]),
]


def _file(env: Env, name: str) -> Path:
    path = env.tmp / name
    path.write_text("not a model\n")
    return path


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in TRAIN_CASES])
def test_bad_transformer_config(case: Case, env: Env):
    cfg = case.config(env)
    sources = {p: snapshot(p) for p in env.tmp.iterdir()}
    result, output = invoke(env.train(cfg))
    assert_one_clear_error(result, output, case.needles(env))
    assert not env.out.exists(), sorted(p.name for p in env.out.rglob("*"))  # nothing half-written
    assert {p: snapshot(p) for p in sources} == sources  # the model directories are left alone


def test_frozen_transformer_must_annotate(env: Env):
    result, output = invoke(env.train(env.pipeline(), "--training.frozen_components", '["transformer"]'))
    assert_one_clear_error(result, output, ["training.frozen_components", "transformer", "annotating_components"])
    assert not env.out.exists()


def test_frozen_annotating_transformer_keeps_its_weights(env: Env):
    from safetensors.numpy import load_file

    result, output = invoke(env.train(env.pipeline(), "--training.frozen_components", '["transformer"]',
                                      "--training.annotating_components", '["transformer"]'))
    assert result.exit_code == 0, output
    source = load_file(str(env.bert / "model.safetensors"))
    saved = load_file(str(env.out / "model-last" / "transformer" / "hf_model" / "model.safetensors"))
    assert set(saved) == set(source)
    assert all((saved[name] == source[name]).all() for name in source)


# --- damaged saved pipelines ----------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory, bert, trf) -> Path:
    """model-last of a 2-step transformer + tagger run."""
    tmp = tmp_path_factory.mktemp("trf-saved")
    env = Env(tmp, bert, trf)
    result, output = invoke(env.train(env.pipeline()))
    assert result.exit_code == 0, output
    model = env.out / "model-last"
    assert (model / "transformer" / "hf_model" / "model.safetensors").is_file()
    return model


@pytest.fixture(scope="module")
def other_models(tmp_path_factory, trf) -> Path:
    from .trf_util import write_tiny_bert

    root = tmp_path_factory.mktemp("other-models")
    write_tiny_bert(root / "wider", hidden_size=48)
    write_tiny_bert(root / "deeper", layers=3)
    return root


def _replace_weights(other: str):
    def mutate(model: Path, others: Path) -> None:
        shutil.copy(others / other / "model.safetensors", model / "transformer" / "hf_model" / "model.safetensors")

    return mutate


def _replace_model(other: str):
    """config.json and weights both from another (wider) model: the HF model loads, but the
    tagger was trained on 32-wide vectors."""
    def mutate(model: Path, others: Path) -> None:
        for name in ("config.json", "model.safetensors"):
            shutil.copy(others / other / name, model / "transformer" / "hf_model" / name)

    return mutate


def _in_hf_dir(func):
    return lambda model, others: func(model / "transformer" / "hf_model")


def _rmtree_hf(model: Path, others: Path) -> None:
    shutil.rmtree(model / "transformer" / "hf_model")


SAVED_CASES = [
    ("weights-of-a-wider-model", _replace_weights("wider"), "transformer/hf_model"),
    ("weights-of-a-deeper-model", _replace_weights("deeper"), "transformer/hf_model"),
    ("config-and-weights-of-a-wider-model", _replace_model("wider"), "transformer/hf_model"),
    ("corrupted-weights", _in_hf_dir(_corrupt), "transformer/hf_model"),
    ("weights-missing", _in_hf_dir(_remove("model.safetensors")), "transformer/hf_model"),
    ("config-json-missing", _in_hf_dir(_remove("config.json")), "transformer/hf_model"),
    ("hf-model-dir-missing", _rmtree_hf, "transformer"),
]


@pytest.mark.parametrize("mutate,where", [pytest.param(m, w, id=i) for i, m, w in SAVED_CASES])
def test_damaged_saved_transformer(saved, other_models, tmp_path, mutate, where):
    model = Path(shutil.copytree(saved, tmp_path / "model"))
    mutate(model, other_models)
    before = snapshot(model)
    result, output = invoke(["evaluate", model, DEV])
    assert_one_clear_error(result, output, [str(model / where)])
    assert snapshot(model) == before


@pytest.mark.parametrize("mutate", [pytest.param(m, id=i) for i, m, _ in SAVED_CASES[:4]])
def test_damaged_saved_transformer_is_a_model_dir_error(saved, other_models, tmp_path, mutate):
    from archcli.errors import ModelDirError
    from archcli.language import load

    model = Path(shutil.copytree(saved, tmp_path / "model"))
    mutate(model, other_models)
    with pytest.raises(ModelDirError) as err:
        load(model)
    assert str(model / "transformer" / "hf_model") in str(err.value)


def test_saved_pipeline_evaluates(saved):
    result, output = invoke(["evaluate", saved, DEV])
    assert result.exit_code == 0, output
    assert "TAG" in output.upper()


# --- mixed precision on the CPU -------------------------------------------------------------

def test_mixed_precision_on_cpu_trains_in_float32(env: Env):
    from safetensors.numpy import load_file

    result, output = invoke(env.train(env.pipeline(mixed_precision=True)))
    assert result.exit_code == 0, output
    assert "Traceback" not in output
    weights = load_file(str(env.out / "model-last" / "transformer" / "hf_model" / "model.safetensors"))
    assert weights and {str(array.dtype) for array in weights.values()} == {"float32"}


# --- transformers not installed -------------------------------------------------------------

BLOCK_TRANSFORMERS = """
import runpy, sys
sys.modules["transformers"] = None  # `import transformers` now raises ImportError
import archcli, archcli.cli, archcli.language, archcli.ml.transformers, archcli.pipeline.transformer
sys.argv = ["archcli", *sys.argv[1:]]
runpy.run_module("archcli", run_name="__main__", alter_sys=True)
"""


def _run_without_transformers(args: List[object], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", BLOCK_TRANSFORMERS, *map(str, args)], capture_output=True,
                          text=True, timeout=180, env=env, cwd=cwd)


def test_without_transformers_a_trf_config_names_the_extra(env: Env):
    # The model directory is never reached: the missing library is reported first.
    cfg = env.pipeline(env.tmp / "some-model")
    proc = _run_without_transformers(env.train(cfg), env.tmp)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output, output
    errors = error_messages(output)
    assert len(errors) == 1, output
    assert "archcli[transformers]" in errors[0], errors
    assert not env.out.exists()


def test_without_transformers_a_saved_trf_pipeline_names_the_extra(saved, tmp_path):
    proc = _run_without_transformers(["evaluate", saved, DEV], tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output, output
    errors = error_messages(output)
    assert len(errors) == 1 and "archcli[transformers]" in errors[0], output


def test_without_transformers_other_pipelines_still_train(tmp_path):
    proc = _run_without_transformers(["train", REPO / "configs" / "tagger.cfg", "--output", tmp_path / "out",
                                      "--paths.train", TRAIN, "--paths.dev", DEV, "--training.max_steps", 2],
                                     tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out" / "model-last" / "config.cfg").exists()
