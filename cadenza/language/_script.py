"""JavaScript for Conductor's expressions, behind the optional extra `js`.

Design note
-----------
Conductor evaluates SWITCH `javascript` expressions, DECISION
`caseExpression`, DO_WHILE `loopCondition`, INLINE `expression` and LAMBDA
`scriptExpression` as JavaScript, with `$` bound to a JSON-like input (its
ScriptEvaluator). cadenza runs them in a real embedded V8 (mini-racer) when
the extra is installed (`pip install cadenza[js]`); without it
`engine_available()` is False and registration refuses such definitions.
No imitation of JavaScript is attempted here; the one concession to
Conductor's Java bindings is that arrays also answer `java.util.List`'s
`get`, `size`, `isEmpty` and `contains`, as its host-access lists do.

`evaluate(script, bindings)` is pure as far as `decide` can tell:

- the input crosses as JSON text and the result comes back as JSON text
  (`JSON.stringify`), so only JSON values pass either way (`undefined` and
  functions become None; a value JSON cannot hold is a `ScriptError`);
- the script runs in sloppy mode (as in Conductor's engines) by a direct
  `eval` inside a function whose parameter is `$`, so its `var`s are local
  to one evaluation; the built-ins and the global bindings are frozen after
  the prelude, and globals an undeclared assignment creates are deleted when
  the evaluation ends, so no evaluation leaves state behind for the next;
- the clock and randomness are not exposed: `Date.now()`, `new Date()`
  without arguments and `Math.random()` throw;
- each evaluation has a time limit (`TIMEOUT_S`) and a heap limit
  (`MAX_MEMORY_BYTES`); hitting either is a `ScriptError`, and after a heap
  overrun the V8 context is thrown away and rebuilt.

A time limit depends on the machine, so an evaluation near it could go
either way; that is safe because decisions are journaled and recovery
never evaluates again (see `_events.py`).

Off the event loop: a run's actor gives `decide` an `Evaluations` book
(`Environment.scripts`). With it, decide never runs V8 itself: an
evaluation the book does not hold is recorded as wanted (`ScriptPending`
stops the walk, which decides nothing); the actor then makes the wanted
evaluations in a worker thread (`Evaluations.make`), awaiting them, and
decides again, now reading the results. Other runs' timers, leases and
workers go on meanwhile. Without a book (the pure tests) decide evaluates
in place, as before. Either way the same (script, input) gives the same
decision, and the decision is what is journaled.

One V8 context serves the process (created on first use, guarded by a
lock, closed at exit): a fresh isolate per evaluation costs ~10 ms.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib
import inspect
import json
import re
import threading
from typing import Any

TIMEOUT_S = 1.0  # per evaluation; it runs on the caller's thread (the run's actor)
MAX_MEMORY_BYTES = 64 * 1024 * 1024  # V8 heap, per evaluation

JAVASCRIPT_EVALUATORS = frozenset({"javascript", "graaljs"})

_PRELUDE = r"""
(function () {
  const RealDate = Date;
  const refuse = (what) => function () {
    throw new Error(what + " reads the clock or randomness, which expressions may not use");
  };
  function PureDate(...args) {
    if (args.length === 0) { throw new Error("Date() without arguments reads the clock, which expressions may not use"); }
    return new.target ? new RealDate(...args) : RealDate(...args);
  }
  PureDate.prototype = RealDate.prototype;
  PureDate.UTC = RealDate.UTC;
  PureDate.parse = RealDate.parse;
  PureDate.now = refuse("Date.now()");
  Object.defineProperty(RealDate.prototype, "constructor", { value: PureDate });
  globalThis.Date = PureDate;
  Math.random = refuse("Math.random()");
  // Conductor binds $ to Java objects with host access (ScriptEvaluator.java:169,
  // HostAccess.ALL): a list is also a java.util.List, so scripts call $.list.get(i).
  const javaList = {
    get(i) { return this[i]; },
    size() { return this.length; },
    isEmpty() { return this.length === 0; },
    contains(x) { return this.includes(x); },
  };
  for (const [name, fn] of Object.entries(javaList)) {
    Object.defineProperty(Array.prototype, name, { value: fn, writable: false, enumerable: false });
  }
  for (const name of ["setTimeout", "clearTimeout", "__timer_manager", "WebAssembly",
                      "SharedArrayBuffer", "Atomics", "FinalizationRegistry", "WeakRef",
                      "Temporal"]) {
    if (!delete globalThis[name]) globalThis[name] = undefined;
  }
  const builtins = new Set(Reflect.ownKeys(globalThis));
  const run = function (script, input) {
    // sloppy mode, as Conductor's engines: a direct eval keeps `var`s local to this call
    const value = (function ($) { return eval(script); })(JSON.parse(input));
    return value === undefined ? undefined : JSON.stringify(value);
  };
  globalThis.__cadenza_run = function (script, input) {
    try {
      return run(script, input);
    } finally {  // globals an undeclared assignment created do not outlive the evaluation
      for (const key of Reflect.ownKeys(globalThis)) {
        if (!builtins.has(key)) delete globalThis[key];
      }
    }
  };
  builtins.add("__cadenza_run");
  const seen = new Set([globalThis]);
  const freeze = (value) => {
    if ((typeof value !== "object" && typeof value !== "function") || value === null) return;
    if (seen.has(value)) return;
    seen.add(value);
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) {
      const desc = Object.getOwnPropertyDescriptor(value, key);
      if (desc && "value" in desc) freeze(desc.value);
    }
  };
  for (const key of Reflect.ownKeys(globalThis)) {
    const desc = Object.getOwnPropertyDescriptor(globalThis, key);
    if (desc.configurable) {
      Object.defineProperty(globalThis, key, { writable: false, configurable: false });
    }
    if ("value" in desc) freeze(desc.value);
  }
})();
"""


class ScriptError(Exception):
    """A script failed: a syntax or runtime error, a limit reached, or a result JSON cannot hold.

    Never escapes `decide`: the walker turns it into the task's failure, with
    Conductor's outcome and a reason naming the task.
    """


class ScriptPending(Exception):
    """`decide` needs an evaluation its `Evaluations` book does not hold yet.

    Never escapes `decide`: the walker stops and decides nothing; the run's
    actor makes the evaluation off the event loop and decides again.
    """


def engine_available() -> bool:
    """True when a JavaScript engine (mini-racer) can be imported."""
    try:
        importlib.import_module("py_mini_racer")
    except ImportError:
        return False
    return True


class _Engine:
    """The process's one V8 context, made lazily and rebuilt after a heap overrun."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.racer: Any = None

    def _fresh(self) -> Any:
        """A new context, made on a thread with no running asyncio loop.

        mini-racer binds a context to the loop running where it is made; made
        inside the runtime's loop, its synchronous `eval` would refuse a
        timeout. Made here, it gets a loop thread of its own.
        """
        from py_mini_racer import MiniRacer

        # mini-racer 0.12 takes `timeout` in ms; later versions deprecate it for `timeout_sec`
        _TAKES_SECONDS["yes"] = "timeout_sec" in inspect.signature(MiniRacer.eval).parameters
        made: list[Any] = []
        failed: list[BaseException] = []

        def make() -> None:
            try:
                racer = MiniRacer()
                racer.eval(_PRELUDE)
                made.append(racer)
            except BaseException as exc:  # handed to the caller below
                failed.append(exc)

        maker = threading.Thread(target=make, name="cadenza-js-init")
        maker.start()
        maker.join()
        if failed:
            raise failed[0]
        return made[0]

    def close(self) -> None:
        with self.lock:
            if self.racer is not None:
                self.racer.close()
                self.racer = None

    def abandon(self) -> None:
        """At interpreter exit: leave the context unfreed; it goes with the process.

        Freeing a context this prelude ran in segfaults in mini-racer 0.14
        (`mr_free_context`, seen on every exit of a process that evaluated a
        script: exit status 139 after all was done), whether from an `atexit`
        close or from the finalizers that run at interpreter shutdown. So the
        context maker is given a reference nothing releases, and the racer
        forgets it: neither frees the context. Nothing is lost: the process ends.
        """
        with self.lock:
            racer, self.racer = self.racer, None
        if racer is not None:
            maker, racer._own_context_maker = racer._own_context_maker, None
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(maker))

    def run(self, script: str, input_json: str, timeout_s: float, max_memory: int) -> Any:
        from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException

        code = f"__cadenza_run({json.dumps(script)}, {json.dumps(input_json)})"
        with self.lock:
            if self.racer is None:
                self.racer = self._fresh()
            try:
                if _TAKES_SECONDS.get("yes", True):
                    return self.racer.eval(code, timeout_sec=timeout_s, max_memory=max_memory)
                return self.racer.eval(code, timeout=timeout_s * 1000, max_memory=max_memory)
            except JSTimeoutException:
                raise ScriptError(f"timed out after {timeout_s:g} s") from None
            except JSOOMException:
                self.racer.close()
                self.racer = None
                raise ScriptError(f"exceeded its memory limit of {max_memory} bytes") from None
            except JSEvalException as exc:
                raise ScriptError(_first_line(str(exc))) from None
            except Exception as exc:  # the engine itself failed: a fresh context next time
                self.racer.close()
                self.racer = None
                raise ScriptError(f"the JavaScript engine failed: {exc!r}") from None


def _first_line(message: str) -> str:
    """V8's message without its position prefix and the stack trace mini-racer appends."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return _POSITION.sub("", lines[0]) if lines else "JavaScript error"


_POSITION = re.compile(r"^[^:\s]*:\d+: ")


_TAKES_SECONDS: dict[str, bool] = {}
_ENGINE = _Engine()
atexit.register(_ENGINE.abandon)


def evaluate(
    script: str,
    bindings: Any,
    *,
    timeout_s: float | None = None,
    max_memory_bytes: int | None = None,
) -> Any:
    """The JSON value of `script` with `$` bound to `bindings`; raises `ScriptError`."""
    return _value(_json_text(script, _input_json(bindings), timeout_s, max_memory_bytes))


def _input_json(bindings: Any) -> str:
    try:
        return json.dumps(bindings, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ScriptError(f"its input is not JSON: {exc}") from None


def _json_text(
    script: str, input_json: str, timeout_s: float | None, max_memory_bytes: int | None
) -> str | None:
    """The result's JSON text (None: undefined or a function); raises `ScriptError`."""
    if not engine_available():
        raise ScriptError("no JavaScript engine is installed (pip install 'cadenza[js]')")
    result = _ENGINE.run(
        script,
        input_json,
        TIMEOUT_S if timeout_s is None else timeout_s,
        MAX_MEMORY_BYTES if max_memory_bytes is None else max_memory_bytes,
    )
    return result if isinstance(result, str) else None


def _value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Evaluations:
    """One run's evaluations, made by its actor off the event loop; see the module note.

    `value` is what `decide` calls; `make` (blocking: call it in a worker
    thread) makes what was wanted. Results are kept as JSON text, so each
    read is a fresh value, until `forget` (the run's actor calls it once a
    round's decisions are made: a round that wanted one more result is
    decided again from its start, and must find the earlier ones).
    """

    def __init__(self) -> None:
        self.wanted: dict[tuple[str, str], None] = {}  # (script, input JSON), in order
        self.made: dict[tuple[str, str], tuple[bool, str | None]] = {}

    def value(self, script: str, bindings: Any) -> Any:
        """The value of `script` with `$` = `bindings`; raises `ScriptError` or `ScriptPending`."""
        key = (script, _input_json(bindings))
        made = self.made.get(key)
        if made is None:
            self.wanted[key] = None
            raise ScriptPending(script)
        ok, text = made
        if not ok:
            raise ScriptError(text)
        return _value(text)

    def forget(self) -> None:
        """Drop the results made so far (their decisions are made)."""
        self.made = {}

    def make(self) -> None:
        """Make every wanted evaluation (blocking, up to its time limit each)."""
        wanted, self.wanted = list(self.wanted), {}
        for script, input_json in wanted:
            try:
                self.made[(script, input_json)] = (
                    True, _json_text(script, input_json, None, None)
                )  # fmt: skip
            except ScriptError as exc:
                self.made[(script, input_json)] = (False, str(exc))


def truthy(value: Any) -> bool:
    """Conductor's `ScriptEvaluator.toBoolean`: a boolean as it is, a number when > 0, else false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value > 0
    return False


def lambda_script(script_expression: str) -> str:
    """A LAMBDA's `scriptExpression` is a function body, wrapped as Conductor's Lambda does."""
    return "function scriptFun(){" + script_expression + "} scriptFun();"
