"""Fixtures of the quality-search tests: longer real footage."""

from __future__ import annotations
