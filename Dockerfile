# One image for every GIG stage (and, later, every Kubeflow component).
# CPU by default; the pinned torch wheel is the CUDA build, so the same image runs on GPUs.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 DVC_NO_ANALYTICS=1
WORKDIR /opt/gig

COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY gig_core ./gig_core
RUN pip install --no-deps . \
    && useradd --create-home --uid 1000 gig

USER gig
WORKDIR /home/gig
ENTRYPOINT ["gig"]
CMD ["--help"]
