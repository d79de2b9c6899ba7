"""modelcheck_rules: the built-in rules of modelcheck (the repository folder `rules/`), one module per rule, grouped by family."""
