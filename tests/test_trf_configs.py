"""Transformer configs (issue 17): the shipped configs/trf_*.cfg, `init-config --transformer DIR`,
a config in the shape spaCy's `init config --gpu` writes, and the messages for a missing extra or
a model directory that is not one.

The tiny BERT here has 256 positions, so the 128-token windows every one of these configs names
fit it unchanged (the tests point `paths.transformer` at it and change nothing else).
"""
import copy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from thinc.api import Config
from typer.testing import CliRunner

from archcli.cli import app
from archcli.config import check_registered_names, load_config
from archcli.init_config import TRANSFORMER_LISTENER, TRANSFORMER_TRAINING, init_config, init_config_text

from .test_bad_input import error_messages
from .util import REPO

CONFIGS = REPO / "configs"
DATA = Path(__file__).parent / "data"
SPACY_GPU_CFG = DATA / "spacy_init_config_gpu_tagger_parser.cfg"
UD_TRAIN = REPO / "corpus_samples" / "conllu" / "train.conllu"
UD_DEV = REPO / "corpus_samples" / "conllu" / "dev.conllu"
SHIPPED = {"trf_tagger_parser.cfg": ["transformer", "tagger", "parser"], "trf_ner.cfg": ["transformer", "ner"]}
runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    output = result.output
    if result.stderr_bytes is not None and result.stderr not in output:
        output += result.stderr
    return result, output


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from .trf_util import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("trf-configs") / "bert", max_position_embeddings=256)


def listeners(config) -> dict:
    """component name -> its model's tok2vec block, for every component that has one."""
    return {name: block["model"]["tok2vec"] for name, block in config["components"].items()
            if isinstance(block.get("model"), dict) and "tok2vec" in block["model"]}


# --- the shipped configs ---------------------------------------------------------------------

@pytest.mark.parametrize("filename", sorted(SHIPPED))
def test_shipped_config_resolves_and_builds_with_paths_transformer(filename, tiny_bert):
    from archcli.language import Pipeline
    from archcli.training.loop import resolve_training

    config = load_config(CONFIGS / filename, overrides={"paths.transformer": str(tiny_bert)})
    check_registered_names(config)
    resolve_training(config)
    nlp = Pipeline.from_config(config)
    assert nlp.pipe_names == SHIPPED[filename]
    assert config["components"]["transformer"]["model"]["name"] == "${paths.transformer}"
    assert config.interpolate()["components"]["transformer"]["model"]["name"] == str(tiny_bert)


@pytest.mark.parametrize("filename", sorted(SHIPPED))
def test_shipped_config_has_the_quickstart_transformer_settings(filename, tiny_bert):
    """What spaCy's quickstart writes for a transformer pipeline, and what init-config writes."""
    config = Config().from_disk(CONFIGS / filename, interpolate=False)
    assert config["paths"]["transformer"] is None
    training = config["training"]
    assert training["accumulate_gradient"] == TRANSFORMER_TRAINING["accumulate_gradient"] == 3
    assert training["batcher"] == TRANSFORMER_TRAINING["batcher"]
    assert training["optimizer"]["learn_rate"] == TRANSFORMER_TRAINING["learn_rate"]
    assert training["optimizer"]["@optimizers"] == "Adam.v1"
    model = config["components"]["transformer"]["model"]
    assert model["@architectures"] == "spacy-transformers.TransformerModel.v3"
    assert model["get_spans"] == {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128,
                                  "stride": 96}
    assert model["tokenizer_config"] == {"use_fast": True} and model["mixed_precision"] is False
    blocks = listeners(config)
    assert set(blocks) == set(SHIPPED[filename][1:])
    assert all(block == TRANSFORMER_LISTENER for block in blocks.values())
    for name in set(blocks) & {"parser", "ner"}:
        assert config["components"][name]["model"]["use_upper"] is False
    generated = init_config([n for n in SHIPPED[filename] if n != "transformer"], transformer=str(tiny_bert))
    for name in SHIPPED[filename]:
        shipped_block = copy.deepcopy(dict(config["components"][name]))
        generated_block = copy.deepcopy(dict(generated["components"][name]))
        for block in (shipped_block, generated_block):
            block["model"] = dict(block["model"])
            block["model"].pop("nO", None)  # spaCy writes the parser's nO = null; the factory leaves it out
        assert Config(shipped_block) == Config(generated_block), name


def test_shipped_trf_config_trains_a_few_steps(tiny_bert, tmp_path):
    out = tmp_path / "out"
    result, output = invoke("train", CONFIGS / "trf_tagger_parser.cfg", "--output", out,
                            "--paths.transformer", tiny_bert, "--paths.train", UD_TRAIN, "--paths.dev", UD_DEV,
                            "--training.max_steps", 10, "--training.eval_frequency", 5)
    assert result.exit_code == 0, output + repr(result.exception)
    assert "LOSS TRANSFORMER" in output and "TAG_ACC" in output
    assert (out / "model-last" / "transformer" / "hf_model" / "config.json").exists()


def test_config_as_spacy_init_config_gpu_writes_it_trains_unchanged(tiny_bert, tmp_path):
    """tests/data/spacy_init_config_gpu_tagger_parser.cfg is `spacy init config --gpu -p tagger,parser`'s
    output (spaCy 3.8, spacy-transformers 1.4) as written; only overrides point it at data and a model."""
    config = Config().from_disk(SPACY_GPU_CFG, interpolate=False)
    assert config["components"]["transformer"]["model"]["name"] == "roberta-base"
    check_registered_names(config)
    out = tmp_path / "out"
    result, output = invoke("train", SPACY_GPU_CFG, "--output", out,
                            "--components.transformer.model.name", tiny_bert,
                            "--paths.train", UD_TRAIN, "--paths.dev", UD_DEV,
                            "--training.max_steps", 4, "--training.eval_frequency", 2)
    assert result.exit_code == 0, output + repr(result.exception)
    assert (out / "model-last" / "parser" / "model").exists()


# --- init-config --transformer ---------------------------------------------------------------

@pytest.mark.parametrize("optimize", ["accuracy", "efficiency"])
@pytest.mark.parametrize("pipeline", ["tagger,parser", "ner", "textcat", "spancat"])
def test_init_config_transformer_builds_a_pipeline(pipeline, optimize, tiny_bert, tmp_path):
    from archcli.language import Pipeline
    from archcli.training.loop import resolve_training

    out = tmp_path / "trf.cfg"
    result, output = invoke("init-config", out, "--pipeline", pipeline, "--optimize", optimize,
                            "--transformer", tiny_bert)
    assert result.exit_code == 0, output
    config = Config().from_disk(out, interpolate=False)
    names = pipeline.split(",")
    assert config["nlp"]["pipeline"] == ["transformer"] + names
    assert config["paths"]["transformer"] == str(tiny_bert)
    assert config["components"]["transformer"]["model"]["name"] == "${paths.transformer}"
    assert config["system"]["gpu_allocator"] == "pytorch"
    assert set(listeners(config)) == set(names)
    assert all(block == TRANSFORMER_LISTENER for block in listeners(config).values())
    for name in set(names) & {"parser", "ner"}:
        assert config["components"][name]["model"]["use_upper"] is False
    if "textcat" in names:  # spaCy's quickstart: the ensemble, or a CNN on the transformer (never BOW alone)
        expected = "spacy.TextCatEnsemble.v2" if optimize == "accuracy" else "spacy.TextCatCNN.v2"
        assert config["components"]["textcat"]["model"]["@architectures"] == expected
    assert config["training"]["batcher"]["@batchers"] == "spacy.batch_by_padded.v1"
    assert config["training"]["optimizer"]["learn_rate"]["@schedules"] == "warmup_linear.v1"
    resolve_training(config)
    nlp = Pipeline.from_config(config)
    assert nlp.pipe_names == ["transformer"] + names


def test_init_config_transformer_block_is_the_factory_default(monkeypatch, tmp_path):
    from archcli.pipeline.factories import FACTORIES

    meta = FACTORIES["transformer"]
    changed = Config(copy.deepcopy(dict(meta.default_config)))
    changed["max_batch_items"] = 1234
    changed["model"]["get_spans"]["stride"] = 64
    monkeypatch.setattr(meta, "default_config", changed)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_text("")
    (tmp_path / "tokenizer.json").write_text("{}")
    block = init_config(["tok2vec", "ner"], transformer=str(tmp_path))["components"]["transformer"]
    assert block["max_batch_items"] == 1234 and block["model"]["get_spans"]["stride"] == 64
    assert "tok2vec" not in init_config(["tok2vec", "ner"], transformer=str(tmp_path))["components"]


def test_init_config_gpu_needs_a_local_model_directory(tmp_path):
    out = tmp_path / "gpu.cfg"
    result, output = invoke("init-config", out, "--pipeline", "tagger", "--gpu")
    assert result.exit_code == 1, output
    [error] = error_messages(output)
    assert error.startswith("--gpu:") and "--transformer DIR" in error and "local model directory" in error
    assert "Traceback" not in output and not out.exists()


@pytest.mark.parametrize("make_dir,expected", [
    (lambda p: p / "missing", "no model directory at"),
    (lambda p: (p / "file.bin").write_text("x") and p / "file.bin", "is a file"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "has no config.json"),
])
def test_init_config_refuses_a_transformer_that_is_not_a_model_directory(make_dir, expected, tmp_path):
    model_dir = make_dir(tmp_path)
    out = tmp_path / "trf.cfg"
    result, output = invoke("init-config", out, "--pipeline", "ner", "--transformer", model_dir)
    assert result.exit_code == 1, output
    [error] = error_messages(output)
    assert error.startswith("--transformer:") and expected in error and model_dir.name in error
    assert "Traceback" not in output and not out.exists()


def test_init_config_transformer_refuses_pretraining(tiny_bert):
    from archcli.errors import ArchcliError

    with pytest.raises(ArchcliError, match="--pretraining"):
        init_config_text(["tagger"], transformer=str(tiny_bert), pretraining=True)


# --- without the transformers extra -----------------------------------------------------------

def test_without_the_transformers_extra_archcli_works_and_a_trf_config_says_what_to_install(tmp_path):
    """archcli and a CNN pipeline never import `transformers`; with it unimportable (as if not
    installed), training a transformer config exits 1 naming the extra."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (model_dir / name).write_text("{}")
    code = textwrap.dedent(f"""
        import sys
        import archcli
        from archcli.cli import main
        from archcli.config import load_config
        from archcli.language import Pipeline
        Pipeline.from_config(load_config({str(CONFIGS / "tagger_parser.cfg")!r}))
        assert "transformers" not in sys.modules, "a CNN pipeline imported transformers"
        sys.modules["transformers"] = None  # from here on, as if it were not installed
        sys.argv = ["archcli", "train", {str(CONFIGS / "trf_ner.cfg")!r}, "--output", {str(tmp_path / "out")!r},
                    "--paths.transformer", {str(model_dir)!r}, "--training.max_steps", "1"]
        main()
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    [error] = error_messages(proc.stdout + proc.stderr)
    assert "pip install 'archcli[transformers]'" in error
