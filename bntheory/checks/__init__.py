"""Check machinery shared by every results module: outcomes and comparisons, and independent oracles."""
