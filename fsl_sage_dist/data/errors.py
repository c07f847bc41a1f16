"""The one error a run raises when a dataset is neither on disk nor downloadable."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """Raised with a message that names every folder searched and how to get the data."""
