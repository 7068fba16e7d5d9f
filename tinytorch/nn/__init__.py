"""tinytorch.nn: generated modules live here."""
