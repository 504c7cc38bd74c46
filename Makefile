# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when missing,
# install the pinned torch first (requirements/torch.txt), then the kit, and are safe to re-run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml requirements/torch.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/torch.txt
	$(BIN)/python -m pip install --quiet -c requirements/torch.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/autograder demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

benchmark: $(STAMP)
	$(BIN)/python benchmarks/reference_speed.py

clean:
	rm -rf $(VENV) build *.egg-info
