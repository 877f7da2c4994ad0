"""The HTTP system task, run by a system worker the engine owns, with httpx.

Design note
-----------
Conductor's http-task/.../HttpTask.java, as its `start` and `httpCall` do it:
the request is the input's `http_request` (else the input itself); no
`uri` or no `method` fails the task (:67-80). The request carries the
`contentType` (default application/json), the `accept` list, the headers
given (null values left out) and the body (JSON unless a string), with
`connectionTimeOut` and `readTimeOut` in milliseconds (default 3,000 each;
HttpTask.Input). The output is `response`: `statusCode`, `reasonPhrase`,
`headers` (each name to its list of values) and `body` — JSON parsed (an
object, an array, a number as a double; other JSON as its text), else the
text; only a 2xx response's body is kept (:150-153, extractBody).

A 2xx completes the task. Spring's RestTemplate raises for a 4xx or 5xx and
on an I/O error (a timeout included); HttpTask then fails the task (FAILED,
so its TaskDef's retries apply) with reason `Failed to invoke HTTP task due
to: java.lang.Exception: <message>` and output `response` that exception's
text (:96-110), the message worded as Spring words it (`500 Internal Server
Error: "<body>"`, `I/O error on GET request for "<uri>": Read timed out`).
Another status fails it with the body (or `No response from the remote
service`) as reason, and the response as output (:86-95).

The worker raises `SystemTaskFailed` to fail with a reason and an output.

Async complete (HttpTask.start:111-116, `isAsyncComplete`): a 2xx of a task
whose input says `asyncComplete` — HTTPTaskMapper puts the workflow task's
`asyncComplete` there, over any input parameter of that name — leaves it
IN_PROGRESS with its `response` output, until completed from outside
(`signal`, `complete`), as a registered system task that awaits
(`cadenza.dispatch._system_task`): `HTTP_WORKER` is `http_task` run as one.
A failure fails it all the same.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, cast

import httpx

from cadenza.dispatch._groups import WorkerFn
from cadenza.dispatch._slots import SystemTaskFailed
from cadenza.dispatch._system_task import SystemTask

DEFAULT_TIMEOUT_MS = 3000  # HttpTask.Input: connectionTimeOut and readTimeOut
JSON_TYPE = "application/json"


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _body(text: str) -> Any:
    """HttpTask.extractBody: JSON as Jackson reads it, else the text."""
    try:
        node = json.loads(text)
    except ValueError:
        return text
    if isinstance(node, dict | list):
        return node
    if isinstance(node, int | float) and not isinstance(node, bool):
        return float(node)  # objectMapper.convertValue(node, Double.class)
    if isinstance(node, bool):
        return "true" if node else "false"  # node.asText()
    return "null" if node is None else node


def _failed(message: str) -> SystemTaskFailed:
    """HttpTask.start's catch: the exception `httpCall` throws, as Java prints it."""
    thrown = f"java.lang.Exception: {message}"
    return SystemTaskFailed(
        f"Failed to invoke HTTP task due to: {thrown}", output={"response": thrown}
    )


def _millis(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000
    return DEFAULT_TIMEOUT_MS / 1000


async def http_task(task_input: dict[str, Any]) -> dict[str, Any]:
    """Run one HTTP task; see the module note."""
    request = task_input.get("http_request")
    if request is None:
        request = task_input
    if not isinstance(request, dict):
        raise SystemTaskFailed(f"http_request is not an object: {request!r}")
    uri, method = request.get("uri"), request.get("method")
    if uri is None:
        raise SystemTaskFailed(
            "Missing HTTP URI.  See documentation for HttpTask for required input parameters"
        )
    if method is None:
        raise SystemTaskFailed("No HTTP method specified")
    method = str(method).upper()
    accept = request.get("accept") or JSON_TYPE
    accepts = accept if isinstance(accept, list) else [accept]
    headers = {
        "Content-Type": str(request.get("contentType") or JSON_TYPE),
        "Accept": ", ".join(str(a) for a in accepts),
    }
    for key, value in (request.get("headers") or {}).items():
        if value is not None:
            headers[str(key)] = str(value)
    body = request.get("body")
    content = None if body is None else body if isinstance(body, str) else json.dumps(body)
    read_s = _millis(request.get("readTimeOut"))
    timeout = httpx.Timeout(read_s, connect=_millis(request.get("connectionTimeOut")))
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            response = await client.request(method, str(uri), headers=headers, content=content)
    except httpx.TimeoutException as exc:
        why = "Connect timed out" if isinstance(exc, httpx.ConnectTimeout) else "Read timed out"
        raise _failed(f'I/O error on {method} request for "{uri}": {why}') from None
    except httpx.HTTPError as exc:
        raise _failed(f'I/O error on {method} request for "{uri}": {exc}') from None
    code = response.status_code
    phrase = _phrase(code)
    if code >= 400:  # Spring's DefaultResponseErrorHandler raises for a 4xx or 5xx
        text = response.text
        shown = f'"{text}"' if text else "[no body]"
        raise _failed(f"{code} {phrase}: {shown}")
    shaped = {
        "statusCode": code,
        "reasonPhrase": phrase,
        "headers": {name: response.headers.get_list(name) for name in response.headers},
        "body": _body(response.text) if 200 <= code < 300 and response.content else None,
    }
    if 200 <= code < 300:
        return {"response": shaped}
    raise SystemTaskFailed("No response from the remote service", output={"response": shaped})


HTTP_WORKER = cast(WorkerFn, SystemTask(http_task))  # async complete per task (`awaits`)
