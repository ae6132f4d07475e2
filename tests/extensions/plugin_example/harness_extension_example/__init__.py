"""Example extensions of the harness, one module per kind (see pyproject.toml)."""
