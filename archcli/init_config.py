"""Generate a complete, trainable config for a list of components, as `spacy init config` does."""
from typing import Dict, List, Optional

from thinc.api import Config

from .errors import ArchcliError

SUPPORTED = ("tok2vec", "tagger", "parser", "ner", "textcat", "textcat_multilabel", "spancat")

# Component blocks: each takes the tok2vec sub-block (a listener or an inline model) as text.
COMPONENT_TEMPLATES: Dict[str, str] = {
    "tagger": """
[components.tagger]
factory = "tagger"
label_smoothing = 0.0
neg_prefix = "!"
overwrite = false
scorer = {{"@scorers":"spacy.tagger_scorer.v1"}}

[components.tagger.model]
@architectures = "spacy.Tagger.v2"
nO = null
normalize = false

{tok2vec}
""",
}
COMPONENT_TEMPLATES["parser"] = """
[components.parser]
factory = "parser"
learn_tokens = false
min_action_freq = 30
moves = null
scorer = {{"@scorers":"spacy.parser_scorer.v1"}}
update_with_oracle_cut_size = 100

[components.parser.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "parser"
extra_state_tokens = false
hidden_width = 128
maxout_pieces = 3
use_upper = true
nO = null

{tok2vec}
"""
COMPONENT_TEMPLATES["ner"] = """
[components.ner]
factory = "ner"
incorrect_spans_key = null
moves = null
scorer = {{"@scorers":"spacy.ner_scorer.v1"}}
update_with_oracle_cut_size = 100

[components.ner.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
extra_state_tokens = false
hidden_width = 64
maxout_pieces = 2
use_upper = true
nO = null

{tok2vec}
"""
BOW_TEMPLATES: Dict[str, str] = {}
_TEXTCAT_HEAD = """
[components.{name}]
factory = "{name}"
scorer = {{{{"@scorers":"{scorer}"}}}}
threshold = {threshold}
"""
_BOW = """
@architectures = "spacy.TextCatBOW.v2"
exclusive_classes = {exclusive}
ngram_size = 1
no_output_layer = false
nO = null
"""
for _name, _scorer, _threshold, _exclusive in (("textcat", "spacy.textcat_scorer.v2", "0.0", "true"),
                                               ("textcat_multilabel", "spacy.textcat_multilabel_scorer.v2", "0.5", "false")):
    _head_text = _TEXTCAT_HEAD.format(name=_name, scorer=_scorer, threshold=_threshold)
    _bow_text = _BOW.format(exclusive=_exclusive)
    # accuracy: spaCy's ensemble of the BOW model and an attention-pooled tok2vec.
    COMPONENT_TEMPLATES[_name] = (
        _head_text + f"\n[components.{_name}.model]\n@architectures = \"spacy.TextCatEnsemble.v2\"\nnO = null\n"
        + f"\n[components.{_name}.model.linear_model]" + _bow_text + "\n{tok2vec}\n"
    )
    # efficiency: the BOW model alone, which needs no tok2vec.
    BOW_TEMPLATES[_name] = _head_text + f"\n[components.{_name}.model]" + _bow_text
COMPONENT_TEMPLATES["spancat"] = """
[components.spancat]
factory = "spancat"
max_positive = null
scorer = {{"@scorers":"spacy.spancat_scorer.v1"}}
spans_key = "sc"
threshold = 0.5

[components.spancat.model]
@architectures = "spacy.SpanCategorizer.v1"

[components.spancat.model.reducer]
@layers = "spacy.mean_max_reducer.v1"
hidden_size = 128

[components.spancat.model.scorer]
@layers = "spacy.LinearLogistic.v1"
nO = null
nI = null

{tok2vec}

[components.spancat.suggester]
@misc = "spacy.ngram_suggester.v1"
sizes = [1,2,3]
"""
SCORE_WEIGHTS: Dict[str, Dict[str, float]] = {
    "textcat": {"cats_score": 1.0},
    "textcat_multilabel": {"cats_score": 1.0},
    "spancat": {"spans_sc_f": 1.0, "spans_sc_p": 0.0, "spans_sc_r": 0.0},
    "tagger": {"tag_acc": 1.0},
    "parser": {"dep_uas": 0.5, "dep_las": 0.5, "sents_f": 0.0},
    "ner": {"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0},
}


def _tok2vec_block(section: str, optimize: str, vectors: bool) -> str:
    width, depth = (96, 4) if optimize == "efficiency" else (256, 8)
    rows = "[5000,1000,2500,2500]" if optimize == "efficiency" else "[5000,2500,2500,2500]"
    return f"""
[{section}]
@architectures = "spacy.Tok2Vec.v2"

[{section}.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = ${{{section}.encode.width}}
attrs = ["NORM","PREFIX","SUFFIX","SHAPE"]
rows = {rows}
include_static_vectors = {str(vectors).lower()}

[{section}.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = {width}
depth = {depth}
window_size = 1
maxout_pieces = 3
"""


def _listener_block(section: str) -> str:
    return f"""
[{section}]
@architectures = "spacy.Tok2VecListener.v1"
width = ${{components.tok2vec.model.encode.width}}
upstream = "*"
"""


def init_config(pipeline: List[str], **options) -> Config:
    """A config like spaCy's `init config` writes for these components (efficiency/accuracy)."""
    return Config().from_str(init_config_text(pipeline, **options), interpolate=False)


def init_config_text(
    pipeline: List[str],
    *,
    optimize: str = "efficiency",
    gpu: bool = False,
    lang: str = "en",
    vectors: Optional[str] = None,
    pretraining: bool = False,
) -> str:
    """The config as text, sections in reading order (confection would regroup them).

    `pretraining=True` adds spaCy's default [pretraining] block (and paths.raw_text,
    corpora.pretrain), pretraining the shared tok2vec or else the first component's inline one.
    """
    if optimize not in ("efficiency", "accuracy"):
        raise ArchcliError(f"--optimize must be 'efficiency' or 'accuracy', not '{optimize}'")
    unknown = [name for name in pipeline if name not in SUPPORTED]
    if unknown:
        raise ArchcliError(f"init-config does not know component(s) {', '.join(unknown)}; "
                           f"supported: {', '.join(SUPPORTED)}")
    if not pipeline:
        raise ArchcliError("--pipeline needs at least one component")
    use_vectors = bool(vectors) and optimize == "accuracy"
    tasks = [name for name in pipeline if name != "tok2vec"]
    # As spaCy chooses: with --optimize efficiency a textcat is the BOW model, which needs no tok2vec.
    featureless = [name for name in tasks if name in BOW_TEMPLATES and optimize == "efficiency"]
    featured = [name for name in tasks if name not in featureless]
    shared = "tok2vec" in pipeline or len(featured) > 1
    names = (["tok2vec"] if shared else []) + tasks
    parts = [_head(names, lang, gpu, vectors)]
    if shared:
        parts.append('\n[components.tok2vec]\nfactory = "tok2vec"\n')
        parts.append(_tok2vec_block("components.tok2vec.model", optimize, use_vectors))
    for name in tasks:
        if name in featureless:
            parts.append(BOW_TEMPLATES[name].format(tok2vec=""))
            continue
        section = f"components.{name}.model.tok2vec"
        t2v = _listener_block(section) if shared else _tok2vec_block(section, optimize, use_vectors)
        parts.append(COMPONENT_TEMPLATES[name].format(tok2vec=t2v))
    weights: Dict[str, float] = {}
    for name in tasks:
        for key, value in SCORE_WEIGHTS.get(name, {}).items():
            # Each component weighs the same in the final score, as spaCy's init config does.
            weights[key] = round(value / len(tasks), 2)
    parts.append(_tail(gpu, weights))
    text = "\n".join(parts)
    if pretraining:
        from .training.pretraining import add_pretraining_block

        text = add_pretraining_block(text, component="tok2vec" if shared else (featured or tasks)[0],
                                     layer="" if shared else "tok2vec")
    text = "\n".join(line.rstrip() for line in text.strip().splitlines()) + "\n"
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def _head(names: List[str], lang: str, gpu: bool, vectors: Optional[str]) -> str:
    pipeline = "[" + ",".join(f'"{n}"' for n in names) + "]"
    vectors_value = f'"{vectors}"' if vectors else "null"
    return f"""
[paths]
train = null
dev = null
vectors = {vectors_value}
init_tok2vec = null

[system]
gpu_allocator = {'"pytorch"' if gpu else "null"}
seed = 0

[nlp]
lang = "{lang}"
pipeline = {pipeline}
batch_size = {128 if gpu else 1000}
disabled = []
before_creation = null
after_creation = null
after_pipeline_creation = null
tokenizer = {{"@tokenizers":"spacy.Tokenizer.v1"}}
vectors = {{"@vectors":"spacy.Vectors.v1"}}

[components]
"""


def _tail(gpu: bool, weights: Dict[str, float]) -> str:
    weight_lines = "\n".join(f"{k} = {v}" for k, v in weights.items())
    return f"""
[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${{paths.train}}
max_length = 0
gold_preproc = false
limit = 0
augmenter = null

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${{paths.dev}}
max_length = 0
gold_preproc = false
limit = 0
augmenter = null

[training]
dev_corpus = "corpora.dev"
train_corpus = "corpora.train"
seed = ${{system.seed}}
gpu_allocator = ${{system.gpu_allocator}}
dropout = 0.1
accumulate_gradient = 1
patience = 1600
max_epochs = 0
max_steps = 20000
eval_frequency = 200
frozen_components = []
annotating_components = []
before_to_disk = null
before_update = null

[training.batcher]
@batchers = "spacy.batch_by_words.v1"
discard_oversize = false
tolerance = 0.2
get_length = null

[training.batcher.size]
@schedules = "compounding.v1"
start = 100
stop = {2000 if gpu else 1000}
compound = 1.001
t = 0.0

[training.logger]
@loggers = "spacy.ConsoleLogger.v1"
progress_bar = true

[training.optimizer]
@optimizers = "Adam.v1"
beta1 = 0.9
beta2 = 0.999
L2_is_weight_decay = true
L2 = 0.01
grad_clip = 1.0
use_averages = false
eps = 0.00000001
learn_rate = 0.001

[training.score_weights]
{weight_lines}

[pretraining]

[initialize]
vectors = ${{paths.vectors}}
init_tok2vec = ${{paths.init_tok2vec}}
vocab_data = null
lookups = null
before_init = null
after_init = null

[initialize.components]

[initialize.tokenizer]
"""
