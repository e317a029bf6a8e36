# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# torch is pinned to the CPU build first: a bare `torch` requirement would pull a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/dsconv sample coins data/coins --overwrite
	$(BIN)/dsconv coco-to-vqa data/coins out/coins-vqa --noun currency --overwrite
	$(BIN)/dsconv validate out/coins-vqa
	$(BIN)/dsconv sample docs data/docs --overwrite
	$(BIN)/dsconv docvqa-to-vqa data/docs out/docs-vqa --overwrite
	$(BIN)/dsconv validate out/docs-vqa

test: $(STAMP)
	$(BIN)/ruff check dsconv tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check dsconv tests benchmarks
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/convert.py

clean:
	rm -rf $(VENV) data out
