"""The container image every component runs in: the repository's Dockerfile, built and pushed
to a registry the cluster can pull from. Set GIG_IMAGE when compiling for your registry."""

import os

IMAGE = os.environ.get("GIG_IMAGE", "gig:0.1.0")
