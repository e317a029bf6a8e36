# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# Two epochs on the coins sample: seconds of CPU, enough to see the loss fall.
DEMO_TRAIN := --epochs 2 --batch-size 8 --lr 1e-3 --no-freeze-vision --max-val-items 8 \
	--max-new-tokens 48 --workers 0 --device cpu

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
	@echo "== the training loop, offline on the CPU, with a tiny random model =="
	HF_HUB_OFFLINE=1 $(BIN)/dsconv sample model florence2 out/tiny-florence2 --dataset out/coins-vqa --overwrite
	rm -rf out/coins-run
	HF_HUB_OFFLINE=1 $(BIN)/dsconv train out/coins-vqa --model florence2 --base out/tiny-florence2 \
		--out out/coins-run $(DEMO_TRAIN)
	HF_HUB_OFFLINE=1 $(BIN)/dsconv eval out/coins-run --dataset out/coins-vqa --split test \
		--max-new-tokens 48 --device cpu
	@echo "note: that was the whole loop offline on a tiny random model, so its scores mean nothing."
	@echo "      Real training needs a GPU and the real checkpoint (leave out --base):"
	@echo "      dsconv train out/coins-vqa --model florence2 --out runs/coins   (README: Fine-tuning)"

test: $(STAMP)
	$(BIN)/ruff check dsconv tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy dsconv
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check dsconv tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy dsconv

bench: $(STAMP)
	$(BIN)/python benchmarks/convert.py

clean:
	rm -rf $(VENV) data out
