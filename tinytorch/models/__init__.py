"""tinytorch.models: generated modules live here."""
