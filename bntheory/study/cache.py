"""The per-run cache on disk: one JSON file per run, named by its key (cell, repetition, seeds, code version).

A study writes each run's record as soon as it arrives, atomically (:mod:`bntheory._io`), so a study killed at
any moment leaves only complete records: resumed, it computes the runs whose files are missing and nothing else.
A change of the code that computes runs changes every key (:func:`~bntheory.study.runs.code_version`), so stale
records are never read; a file that cannot be read back (a disk fault) is recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path

from bntheory._io import write_text_atomic

__all__ = ["Cache"]


class Cache:
    """Records of runs under `directory` (``<key[:2]>/<key>.json``)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        """Where the record of the run `key` lives."""
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The record of `key`, or None when it is missing or unreadable."""
        try:
            record = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("key") == key else None

    def put(self, record: dict) -> Path:
        """Write `record` (its ``key`` names the file) atomically."""
        # json writes NaN as the bare word NaN, which json reads back: the records stay exact (repr round trip).
        return write_text_atomic(self.path(record["key"]), json.dumps(record, sort_keys=True))

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json")) if self.directory.is_dir() else 0
