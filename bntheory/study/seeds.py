"""Seeds and keys of a study's runs: hashes of a canonical encoding, so nothing depends on order or machine.

A run's seed is the first 63 bits of the SHA-256 of the study seed and the run's parameters, written as JSON with
sorted keys and no spaces (floats as Python's shortest round-trip repr, the same on every platform). Adding a cell
to a study, reordering its grids or running it elsewhere leaves every other run's seed, and so its numbers, as
they were.
"""

from __future__ import annotations

import hashlib
import json

__all__ = ["canonical", "derive_seed", "digest"]


def canonical(value: object) -> str:
    """`value` (dicts, lists, strings, numbers, None) as canonical JSON: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest(value: object) -> str:
    """The SHA-256 of :func:`canonical` `value`, in hex."""
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


def derive_seed(study_seed: int, value: object) -> int:
    """A seed in [0, 2**63) for `value` (a run's parameters) within the study seeded `study_seed`."""
    if isinstance(study_seed, bool) or not isinstance(study_seed, int) or study_seed < 0:
        raise ValueError(f"study_seed: expected a non-negative integer, got {study_seed!r}")
    return int(digest({"seed": study_seed, "of": value})[:16], 16) >> 1
