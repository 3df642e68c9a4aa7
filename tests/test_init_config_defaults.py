"""One place for defaults: init-config writes the factories' default configs and
archcli.defaults' [training]/[nlp]/[pretraining], so changing a default changes the config it
writes; and every config it writes builds and passes the training checks."""
import copy

import pytest
from thinc.api import Config

from archcli import defaults
from archcli.init_config import SUPPORTED, init_config, init_config_text
from archcli.pipeline.factories import FACTORIES


def test_component_settings_come_from_the_factory_defaults(monkeypatch):
    meta = FACTORIES["tagger"]
    changed = Config(copy.deepcopy(dict(meta.default_config)))
    changed["label_smoothing"] = 0.25
    changed["model"]["normalize"] = True
    monkeypatch.setattr(meta, "default_config", changed)
    config = init_config(["tok2vec", "tagger"])
    assert config["components"]["tagger"]["label_smoothing"] == 0.25
    assert config["components"]["tagger"]["model"]["normalize"] is True
    assert config["components"]["tagger"]["model"]["tok2vec"]["@architectures"] == "spacy.Tok2VecListener.v1"


@pytest.mark.parametrize("name", [n for n in SUPPORTED if n != "tok2vec"])
def test_every_component_block_is_its_factory_default_but_the_tok2vec(name):
    config = init_config(["tok2vec", name], optimize="accuracy")
    block = dict(config["components"][name])
    assert block.pop("factory") == name
    default = Config(copy.deepcopy(dict(FACTORIES[name].default_config)))
    default["model"].pop("tok2vec", None)
    block["model"] = dict(block["model"])
    block["model"].pop("tok2vec", None)
    assert Config(block) == default


def test_training_settings_come_from_the_training_defaults(monkeypatch):
    changed = copy.deepcopy(defaults.TRAINING_DEFAULTS)
    changed["patience"] = 123
    changed["optimizer"]["learn_rate"] = 0.005
    monkeypatch.setattr(defaults, "TRAINING_DEFAULTS", changed)
    import archcli.init_config as init_config_module

    monkeypatch.setattr(init_config_module, "TRAINING_DEFAULTS", changed)
    config = init_config(["tagger"])
    assert config["training"]["patience"] == 123
    assert config["training"]["optimizer"]["learn_rate"] == 0.005
    assert config["training"]["logger"]["progress_bar"] is True


def test_training_block_equals_the_defaults_the_loop_merges():
    training = dict(init_config(["tagger"])["training"])
    expected = dict(defaults.TRAINING_DEFAULTS)
    for key in ("seed", "gpu_allocator", "score_weights", "logger"):
        training.pop(key)
        expected.pop(key)
    assert Config(training) == Config(expected)


def test_pretraining_block_is_the_pretraining_defaults():
    config = init_config(["tok2vec", "tagger"], pretraining=True)
    assert Config(config["pretraining"]) == Config(defaults.PRETRAINING_DEFAULTS)
    assert Config(config["corpora"]["pretrain"]) == Config(defaults.PRETRAIN_CORPUS_DEFAULTS)


@pytest.mark.parametrize("pipeline", [["tagger"], ["tok2vec", "tagger", "parser", "ner"], ["textcat"],
                                      ["textcat_multilabel", "spancat"], list(SUPPORTED)])
@pytest.mark.parametrize("optimize", ["efficiency", "accuracy"])
def test_generated_configs_build_and_pass_the_training_checks(pipeline, optimize):
    from archcli.language import Pipeline
    from archcli.training.loop import resolve_training

    text = init_config_text(pipeline, optimize=optimize, pretraining=True)
    config = Config().from_str(text, interpolate=False)
    resolve_training(config)
    nlp = Pipeline.from_config(config)
    assert nlp.pipe_names == config["nlp"]["pipeline"]
    assert "\n\n\n" not in text and "[components]\n\n[components." in text


# --- review items 5 and 6: [initialize]/[system] keys that archcli would not read are refused --------

def _tagger_config():
    from tests.util import TAGGER_CFG

    return Config().from_disk(TAGGER_CFG, interpolate=False)


@pytest.mark.parametrize("section,key,value", [
    ("initialize", "vocab_data", "vocab.jsonl"),
    ("initialize", "lookups", {"@misc": "spacy.LookupsDataLoader.v1"}),
    ("initialize", "before_init", {"@callbacks": "x"}),
    ("initialize", "after_init", {"@callbacks": "x"}),
    ("initialize", "tokenizer", {"prefix": "x"}),
    ("initialize", "nosuch", 1),
    ("system", "nosuch", 1),
    ("system", "gpu_allocator", "cupy"),
    ("training", "gpu_allocator", "cupy"),
])
def test_settings_archcli_does_not_read_are_refused(section, key, value):
    from archcli.errors import ConfigError
    from archcli.training.loop import resolve_training

    config = _tagger_config()
    config.setdefault(section, {})[key] = value
    if section == "training":
        config["system"]["gpu_allocator"] = None
    with pytest.raises(ConfigError, match=rf"{section}\.{key}"):
        resolve_training(config)


def test_gpu_allocator_is_used_on_the_gpu_only(monkeypatch):
    import thinc.api

    from archcli.training.initialize import use_gpu_allocator

    calls = []
    monkeypatch.setattr(thinc.api, "set_gpu_allocator", calls.append)
    use_gpu_allocator("pytorch", "training.gpu_allocator")
    assert calls == []  # the CPU: nothing to allocate

    class GpuOps:
        device_type = "gpu"

    monkeypatch.setattr(thinc.api, "get_current_ops", GpuOps)
    use_gpu_allocator("pytorch", "training.gpu_allocator")
    use_gpu_allocator(None, "training.gpu_allocator")
    assert calls == ["pytorch"]


def test_a_gpu_config_from_init_config_passes_the_checks():
    from archcli.training.loop import resolve_training

    config = init_config(["tok2vec", "tagger"], gpu=True)
    assert config["system"]["gpu_allocator"] == "pytorch"
    interpolated, T = resolve_training(config)
    assert T["gpu_allocator"] == "pytorch"
