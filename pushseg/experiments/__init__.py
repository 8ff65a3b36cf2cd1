"""Experiments: the paper's tables and figures as data (specs x profiles x seeds), run cell by cell, aggregated with
mean ± std over seeds and bootstrap intervals over test scenes."""
