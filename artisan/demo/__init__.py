"""`make demo`: the whole pipeline on embedded defaults, each stage checked (``run``), the
downstream stages (``pipeline``: emission, indexing, projections, verify, rewards) and the
state they share (``state``)."""
