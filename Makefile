# snnfpga — the two README commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# the shared corpus (see ../shared/data/README.md); override with DATA=path/to/text.txt
DATA   ?= $(firstword $(wildcard $(SNNFPGA_DATA) ../shared/data/tinyshakespeare.txt))

.PHONY: setup demo test lint bench-model bench-link bench bench-energy sim sim-board train fit bitstream flash clean help

# the board of `make fit`, `make bitstream` and `make flash` (boards/descriptions/*.yaml)
BOARD  ?= icebreaker

help:
	@echo "make demo         set up .venv if needed and generate text with the default model"
	@echo "make test         run the whole test suite"
	@echo "make lint         ruff"
	@echo "make bench-model  BPC, firing rate, operations and speed on the validation split"
	@echo "make sim          co-simulate the core (Verilator) against the golden model; WAVES=1: VCD"
	@echo "make sim-board    run the virtual board (its serial line on a TCP port)"
	@echo "make bench-link   characters per second through the virtual board, wire bound"
	@echo "make bench [QUICK=1]   the seed's claims measured on held-out text: build/bench/report.md"
	@echo "make bench-energy energy per character, spike and synaptic event (estimated), dense ratio"
	@echo "make train        retrain the default model (about 60 min on 2 cores)"
	@echo "make fit BOARD=b  predict whether the board's model fits, before synthesis"
	@echo "make bitstream BOARD=b   bitstream and fit/timing report (icebreaker, ulx3s, ...)"
	@echo "make flash BOARD=b [FLASH=1] [DRY_RUN=1]   program the board with openFPGALoader"

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snnfpga generate "ROMEO:" --max-new-tokens 300 --temperature 0.8 --seed 1 --stats --backend sim

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench-model: $(STAMP)
	@test -n "$(DATA)" || { echo "bench-model needs tinyshakespeare.txt: set DATA=..."; exit 2; }
	$(BIN)/python -m snnfpga.model.bench --text $(DATA)

sim: $(STAMP)
	@test -n "$(DATA)" || { echo "sim needs tinyshakespeare.txt: set DATA=..."; exit 2; }
	$(BIN)/python -m snnfpga.sim.cosim --text $(DATA) $(if $(WAVES),--waves)

sim-board: $(STAMP)
	$(BIN)/snnfpga sim-board

bench-link: $(STAMP)
	$(BIN)/python -m snnfpga.sim.linkbench

bench: $(STAMP)
	@test -n "$(DATA)" || { echo "bench needs tinyshakespeare.txt: set DATA=..."; exit 2; }
	$(BIN)/snnfpga bench --text $(DATA) --out build/bench $(if $(QUICK),--quick)

bench-energy: $(STAMP)
	@test -n "$(DATA)" || { echo "bench-energy needs tinyshakespeare.txt: set DATA=..."; exit 2; }
	$(BIN)/python -m snnfpga.energy.bench --text $(DATA)

train: $(STAMP)
	@test -n "$(DATA)" || { echo "train needs tinyshakespeare.txt: set DATA=..."; exit 2; }
	$(BIN)/snnfpga train --text $(DATA) --out model/default.snnm

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .ruff_cache

fit: $(STAMP)
	$(BIN)/snnfpga fit --board $(BOARD)

bitstream: $(STAMP)
	$(BIN)/snnfpga build --board $(BOARD)

flash: $(STAMP)
	$(BIN)/snnfpga flash --board $(BOARD) $(if $(FLASH),--flash) $(if $(DRY_RUN),--dry-run)
