"""Pipeline factories (KFP v2): the L-round NAO search and the reproducibility check."""
