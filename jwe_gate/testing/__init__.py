"""Contract suites a backend or store proves itself with (as ``asgiref.testing`` does for ASGI
servers). They need pytest, which jwe_gate itself does not.

Subclass one and give it a fixture that makes a fresh, empty instance:

```python
import pytest
from jwe_gate.testing import BackendContract

class TestMyBackend(BackendContract):
    @pytest.fixture
    def backend(self):
        return MyBackend(...)
```

Every suite drives its subject through the same bridges the gate uses (``jwe_gate._twins``),
so a sync, an async, or a two-sided implementation is tested by the one suite.
"""

from ..exceptions import MissingDependencyError

try:
    import pytest  # noqa: F401 - the suites need it; say so once, here
except ImportError as exc:  # pragma: no cover - the suites are for test runs
    raise MissingDependencyError("pytest", "test") from exc

from .backends import BackendContract
from .stores import OneTimeStoreContract, RefreshStoreContract, ThrottleStoreContract

__all__ = [
    "BackendContract",
    "OneTimeStoreContract",
    "RefreshStoreContract",
    "ThrottleStoreContract",
]
