"""JavaScript for Conductor's expressions, behind the optional extra `js`.

Design note
-----------
Conductor evaluates SWITCH `javascript` expressions, DECISION
`caseExpression`, DO_WHILE `loopCondition` and INLINE scripts as
JavaScript. cadenza runs them in a real embedded engine (mini-racer, V8)
when the extra is installed (`pip install cadenza[js]`), and otherwise
rejects such definitions at registration (`engine_available()` is False).
No imitation of JavaScript is attempted here.
"""

from __future__ import annotations

from typing import Any

from cadenza._errors import InternalError


def engine_available() -> bool:
    """True when a JavaScript engine (mini-racer) can be imported."""
    return False  # evaluation is not wired in yet: see evaluate_condition


def evaluate_condition(spec: Any, roots: Any) -> bool:
    """A DO_WHILE `loopCondition`; unreachable without an engine (registration refuses)."""
    raise InternalError(
        f"task {getattr(spec, 'ref', '?')!r}: JavaScript evaluation is not available in this build"
    )
