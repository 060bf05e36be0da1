"""Storage tests: the helpers' asserts get pytest's detailed failure messages too."""

import pytest

pytest.register_assert_rewrite("tests.storage.helpers")
