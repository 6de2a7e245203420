"""Analyses built on the measurement: per-layer concentration (``layers``), the attention
mechanism (``mechanism``), correlation with downstream scores (``correlate``), model comparison
(``compare``), the paper's table (``reproduce``), single pairs (``pair``) and the measures
against human labels of pairs (``validate``)."""
