"""The JavaScript engine's own process: one V8 context, one evaluation per request.

Run as a script by `_script._Engine` (never imported by cadenza, so it
imports nothing of cadenza): the parent writes one JSON line per request on
this process's stdin and reads one JSON line per reply.

- First request `{"prelude": source}`: the context is made and the prelude
  evaluated; the reply is `{"ready": true}` or `{"error": …, "kind": "engine"}`.
- Then `{"script": code, "timeout_s": s, "max_memory": bytes}`: the reply is
  `{"ok": value-or-null}` or `{"error": message, "kind": k}` with `k` one of
  `eval` (the script threw or did not parse), `timeout`, `oom` or `engine`.
  After `oom` or `engine` the process exits: its context is not to be trusted.

The context is never freed: freeing a context whose globals the prelude froze
crashes mini-racer 0.13 to 0.14 (`mr_free_context`). The process ends instead
(`os._exit`), on a fatal error or when its stdin closes — the parent closing
it or the parent dying; a Ctrl-C sent to the terminal's process group is
ignored (the parent handles it and closes stdin). Replies go out on a private
copy of stdout, and fd 1 is pointed at stderr, so nothing the engine prints
can garble a reply.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
from typing import Any, TextIO


def _reply(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _evaluate(racer: Any, takes_seconds: bool, request: dict[str, Any]) -> dict[str, Any]:
    from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException

    try:
        if takes_seconds:
            value = racer.eval(
                request["script"],
                timeout_sec=request["timeout_s"],
                max_memory=request["max_memory"],
            )
        else:  # mini-racer 0.12 takes `timeout` in ms
            value = racer.eval(
                request["script"],
                timeout=request["timeout_s"] * 1000,
                max_memory=request["max_memory"],
            )
    except JSTimeoutException:
        return {"error": "timeout", "kind": "timeout"}
    except JSOOMException:
        return {"error": "oom", "kind": "oom"}
    except JSEvalException as exc:
        return {"error": str(exc), "kind": "eval"}
    except Exception as exc:
        return {"error": repr(exc), "kind": "engine"}
    return {"ok": value if isinstance(value, str) else None}


def main() -> None:
    """Serve evaluations until stdin closes or the context fails; then end the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        from py_mini_racer import MiniRacer

        takes_seconds = "timeout_sec" in inspect.signature(MiniRacer.eval).parameters
        racer = MiniRacer()
        racer.eval(json.loads(sys.stdin.readline())["prelude"])
    except Exception as exc:
        _reply(out, {"error": repr(exc), "kind": "engine"})
        os._exit(0)
    _reply(out, {"ready": True})
    for line in sys.stdin:
        answer = _evaluate(racer, takes_seconds, json.loads(line))
        _reply(out, answer)
        if answer.get("kind") in ("oom", "engine"):
            break
    os._exit(0)


if __name__ == "__main__":
    main()
