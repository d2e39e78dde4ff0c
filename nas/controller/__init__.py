"""The controller: the ask -> submit -> store -> tell loop."""

from nas.controller.loop import SearchResult, run_search

__all__ = ["SearchResult", "run_search"]
