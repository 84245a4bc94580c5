"""One module per paper (or library convention); each states its results and wires them into the registry.

Modules here are discovered and imported by :func:`bntheory.registry.all_results`; nothing else lists them.
"""
