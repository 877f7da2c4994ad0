"""Conductor's integration specs (test-harness/.../test/integration/*.groovy), ported."""

import pytest

pytest.register_assert_rewrite("tests.conductor_spec._support", "tests.conductor_spec._conditional")
