"""Settings for bench/tracking.py only: the product's settings plus a trivial view as the floor."""

from settings import *  # noqa: F403

ROOT_URLCONF = "bench.tracking_urls"
