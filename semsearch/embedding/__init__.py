"""Embedding backends behind one interface; `load_embedder` picks one from a model spec."""

from .base import Embedder
from .specs import load_embedder

__all__ = ["Embedder", "load_embedder"]
