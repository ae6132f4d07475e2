"""The GitHub-facing service: webhook intake (``harness serve``)."""
