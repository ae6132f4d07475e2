"""GitHub's example webhook payloads, the GitHub stand-in (Prism) and the shared test
caches, as the service's tests have them."""

from tests.service.conftest import (  # noqa: F401 - fixtures
    gh,
    github,
    shared_cache,
    webhook_examples,
    wheels,
)
