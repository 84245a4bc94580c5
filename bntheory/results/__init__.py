"""One module per paper (or library convention); each states its results and wires them into the registry.

These modules are found by :mod:`bntheory.discovery` (with those of installed packages and ``--with`` files);
its functions are importable from here too, as ``bntheory.results.all_results`` and ``bntheory.results.get``.
"""

from bntheory.discovery import (
    BUILTIN,
    ENTRY_POINT_GROUP,
    DiscoveryError,
    all_results,
    assert_holds,
    get,
    import_source,
)

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "DiscoveryError", "all_results", "assert_holds", "get", "import_source"]
