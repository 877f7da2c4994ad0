"""`cadenza demo --ui`: the dashboard is served while the demo's orders flow, its address printed."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx


def _read_until(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # ends when the process does: no wait can hang past the test's timeout
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"never printed {pattern!r}:\n{''.join(seen)}")


def test_demo_ui_serves_the_dashboard_while_the_orders_flow(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    command = [
        sys.executable,
        "-m",
        "cadenza.cli",
        "demo",
        "--ui",
        "--port",
        "0",
        "--orders",
        "40",
        "--db",
        str(db),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
    ) as proc:
        code = _watch(proc)
    assert code == 130  # Ctrl-C ends it as it ends the demo without --ui


def _watch(proc: subprocess.Popen[str]) -> int:
    try:
        url = _read_until(proc, r"Dashboard:\s+(http://127\.0\.0\.1:\d+/ui/)").group(1)
        first = httpx.get(url, timeout=10)
        assert first.status_code == 200
        assert "Runs" in first.text
        _read_until(proc, r"stays up at")  # every order has ended; the dashboard is still there
        done = httpx.get(url + "?name=order_pipeline&size=50", timeout=10).text
        counts = {s: int(n) for s, n in re.findall(r'data-count="(\w+)">(\d+)<', done)}
        assert counts["all"] == 40
        assert counts["COMPLETED"] + counts["FAILED"] == 40
        groups = httpx.get(url + "groups", timeout=10).text
        assert 'data-group="payments"' in groups
        assert 'data-group="warehouse"' in groups
        run_id = re.findall(r'<tr data-run-id="([^"]+)"', done)[0]
        graph = httpx.get(url + f"runs/{run_id}/graph.json", timeout=10).json()
        assert [n["id"] for n in graph["nodes"]][1:6] == [
            "validate",
            "charge",
            "reserve",
            "ship",
            "notify",
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    return code


def test_demo_ui_on_a_taken_port_says_so(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        ran = subprocess.run(
            [
                sys.executable,
                "-m",
                "cadenza.cli",
                "demo",
                "--ui",
                "--port",
                str(port),
                "--orders",
                "1",
                "--db",
                str(tmp_path / "d.db"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert ran.returncode == 2
    said = ran.stdout + ran.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in said
    assert "Traceback" not in said
