"""SymPy derivations reused by several results (the BN transform of a symbolic batch, its gradients)."""
