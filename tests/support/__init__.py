"""Helpers shared by the test suites (real servers, service harness)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""
