# Two commands a new user needs: `make demo` and `make test`. Both create .venv from the
# committed lock on first use (about 3 minutes, torch is the bulk of it).
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
export PATH := $(abspath $(VENV))/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	gig sample-catalog data
	dvc add --quiet data
	dvc repro
	gig summary

test: $(STAMP)
	ruff check .
	pytest

clean:
	rm -rf outputs .gig_cache mlflow.db mlartifacts
