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
  overrun the V8 context's process ends and a fresh one serves the next.

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

One V8 context serves the process, in a child process of its own
(`_v8_process.py`, started on first use, calls serialised by a lock, ended
at exit): a fresh isolate per evaluation costs ~10 ms, and no failure of
V8 — a heap overrun, a crash, a context mini-racer cannot free — can take
the service down with it; the child ends and the next evaluation starts
another.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Literal

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
    """The process's JavaScript engine: one V8 context in a child process of its own.

    `_v8_process.py` serves evaluations over a pipe. A heap overrun, an engine
    failure, a child that dies or one that overruns its time limit by `_GRACE_S`
    ends that child, and the next evaluation starts a fresh one: nothing that
    happens to a V8 context can crash this process (freeing a context the
    prelude froze segfaults mini-racer 0.13 to 0.14, so contexts are never freed
    here; their process ends instead). Calls are serialised by a lock.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self._owner = 0  # the pid that started `process`: a forked child starts its own

    def close(self) -> None:
        """End the engine's process (a later evaluation starts another)."""
        with self.lock:
            self._discard(wait_s=2.0)

    def run(self, script: str, input_json: str, timeout_s: float, max_memory: int) -> str | None:
        """The result's JSON text (None: undefined); raises `ScriptError`."""
        code = f"__cadenza_run({json.dumps(script)}, {json.dumps(input_json)})"
        request = {"script": code, "timeout_s": timeout_s, "max_memory": max_memory}
        with self.lock:
            process = self._process()
            answer = self._ask(process, request, timeout_s + _GRACE_S)
            if isinstance(answer, str):  # no reply: never trust that process again
                self._discard(wait_s=0.0 if answer == "late" else 2.0)
                if answer == "late":
                    raise ScriptError(f"timed out after {timeout_s:g} s")
                why = f"its process exited with {process.returncode}"
                raise ScriptError(f"the JavaScript engine failed: {why}")
            if "ok" in answer:
                ok: str | None = answer["ok"]
                return ok
            kind, error = answer.get("kind"), str(answer.get("error"))
            if kind in ("oom", "engine"):
                self._discard(wait_s=2.0)  # the process ends by itself after such a reply
            if kind == "timeout":
                raise ScriptError(f"timed out after {timeout_s:g} s")
            if kind == "oom":
                raise ScriptError(f"exceeded its memory limit of {max_memory} bytes")
            if kind == "eval":
                raise ScriptError(_first_line(error))
            raise ScriptError(f"the JavaScript engine failed: {error}")

    def _process(self) -> subprocess.Popen[bytes]:
        """The running engine process, started (prelude evaluated) if there is none."""
        if self.process is not None and self._owner == os.getpid():
            return self.process
        self.process = None  # inherited across a fork: the parent's, not ours
        if not sys.executable:
            raise ScriptError("the JavaScript engine failed: no Python executable to run it in")
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_v8_process.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self.process, self._owner = process, os.getpid()
        answer = self._ask(process, {"prelude": _PRELUDE}, _START_S)
        if isinstance(answer, str) or not answer.get("ready"):
            self._discard(wait_s=2.0)
            why = "its process did not start" if isinstance(answer, str) else answer.get("error")
            raise ScriptError(f"the JavaScript engine failed: {why}")
        return process

    @staticmethod
    def _ask(
        process: subprocess.Popen[bytes], message: dict[str, Any], within_s: float
    ) -> dict[str, Any] | Literal["late", "gone"]:
        """Send one request and read its one-line reply.

        "late": no reply within `within_s`; "gone": the process died first.
        """
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write(json.dumps(message).encode() + b"\n")
            process.stdin.flush()
        except OSError:  # a broken pipe: the process is gone
            return "gone"
        fd, line, deadline = process.stdout.fileno(), b"", time.monotonic() + within_s
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return "late"
            chunk = os.read(fd, 65536)
            if not chunk:  # end of file: the process died
                return "gone"
            line += chunk
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _discard(self, wait_s: float) -> None:
        """Stop the engine process: close its stdin, give it `wait_s`, then kill it."""
        process, self.process = self.process, None
        if process is None or self._owner != os.getpid():
            return
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_START_S = 30.0  # a fresh engine process: the interpreter, mini-racer and the prelude
_GRACE_S = 5.0  # beyond an evaluation's own limit, before its process is killed


def _first_line(message: str) -> str:
    """V8's message without its position prefix and the stack trace mini-racer appends."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return _POSITION.sub("", lines[0]) if lines else "JavaScript error"


_POSITION = re.compile(r"^[^:\s]*:\d+: ")


_ENGINE = _Engine()
atexit.register(_ENGINE.close)


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
    return _ENGINE.run(
        script,
        input_json,
        TIMEOUT_S if timeout_s is None else timeout_s,
        MAX_MEMORY_BYTES if max_memory_bytes is None else max_memory_bytes,
    )


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
