"""Initialisation rules (THEORY §4, R9, R10): weight scale per skip-free segment (MC201), zero and
constant weights (MC202), tied embedding scale (MC203) and dead-ReLU risk from biases (MC204)."""
