"""`optimist explorer`: a read-only local web page of models, requests, results, games, request batches and batches
(docs/explorer.md)."""

from optimist.explorer.data import ChainDown, ChainView, NotFound
from optimist.explorer.server import Explorer

__all__ = ["ChainDown", "ChainView", "Explorer", "NotFound"]
