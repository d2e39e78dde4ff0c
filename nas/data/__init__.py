"""Datasets read from disk in their official formats, plus the embedded demo set."""

from nas.data.base import Splits, TensorSplit
from nas.data.demo import load_demo

__all__ = ["Splits", "TensorSplit", "load_demo"]
