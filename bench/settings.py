"""Benchmark settings: production settings plus a bare view to compare against (never used otherwise)."""

from atproject.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
