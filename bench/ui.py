"""The real cockpit in a real pseudo-terminal: key-to-paint latency, CPU, bytes and first paint.

Runs ``cockpit --paper`` (COCKPIT_HOME in a temp dir, TERM=xterm-256color) in a 160x48 pty, with
the paper market offering about 10,000 quotes/s over its instruments (the NIFTY 50 stocks plus
indices and futures: ``events_per_s`` 200 per instrument on a 5 ms driver step, always open),
reads everything the app writes, as a person's terminal would, and sends keys through the pty.

Figures (one per line, ``name: value unit``):

* ``ui_frame_hz``: the app's frame rate used (``--frame-hz``, default: the app's default).
* ``ui_first_paint_ms``: process start to the first output showing the status bar's PAPER.
* ``ui_key_to_paint_p99_ms`` (and p50): from writing an arrow key to the first output that shows
  its effect. The key moves the watchlist cursor between SBIN and RELIANCE; the effect is the
  depth ladder's title (``RELIANCE  NSE``) for the newly focused instrument.
* ``ui_cpu_pct``: the process's CPU time (user + system, from /proc/<pid>/stat) over wall time
  during the steady phase and the key phase, in percent of one core. It includes the simulated
  market, which runs in the same process.
* ``ui_bytes_per_s``: bytes written to the terminal per second in the steady phase (no keys).
* ``ui_feed_events_per_s``: market events the core received per second (from the app's log).

Targets: key-to-paint p99 < 20 ms, CPU <= 35 %, <= 100,000 B/s, first paint < 1,500 ms.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from cockpit.config import AppSection

COLS, ROWS = 160, 48
DOWN, UP = b"\x1b[B", b"\x1b[A"


def _cockpit_command() -> list[str]:
    exe = shutil.which("cockpit", path=str(Path(sys.executable).parent))
    if exe:
        return [exe, "--paper"]
    return [sys.executable, "-m", "cockpit.cli", "--paper"]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class Terminal:
    """A child process on a pty; collects its output with timestamps."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.total = 0
        self.tail = b""

    def read(self, timeout: float) -> bytes:
        """What arrived within ``timeout`` seconds (b"" if nothing)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 1 << 16)
        except OSError:
            return b""
        self.total += len(data)
        self.tail = (self.tail + data)[-4096:]
        return data

    def wait_for(self, needle: bytes, timeout: float) -> float | None:
        """Read until ``needle`` shows up; the monotonic time it did, or None."""
        deadline = time.monotonic() + timeout
        window = b""
        while time.monotonic() < deadline:
            data = self.read(min(0.05, max(0.0, deadline - time.monotonic())))
            if data:
                window = (window + data)[-(len(needle) + 1 << 16):]
                if needle in window:
                    return time.monotonic()
        return None

    def drain(self, seconds: float) -> int:
        """Read for ``seconds``; returns bytes read."""
        end = time.monotonic() + seconds
        got = 0
        while time.monotonic() < end:
            got += len(self.read(max(0.0, end - time.monotonic())))
        return got

    def send(self, data: bytes) -> float:
        """Write keys; returns the monotonic time of the write."""
        os.write(self.master, data)
        return time.monotonic()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steady", type=float, default=8.0, help="seconds without keys")
    parser.add_argument("--keys", type=int, default=40, help="arrow keys to time")
    parser.add_argument("--events-per-s", type=float, default=200.0,
                        help="paper events per instrument per second")
    parser.add_argument("--tick-ms", type=int, default=5, help="paper driver step")
    parser.add_argument("--frame-hz", type=float, default=None,
                        help="the UI's frame rate (default: the app's own default)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cockpit-bench-"))
    env = dict(os.environ)
    env.update({
        "COCKPIT_HOME": str(home),
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "COCKPIT_PAPER__EVENTS_PER_S": str(args.events_per_s),
        "COCKPIT_PAPER__TICK_MS": str(args.tick_ms),
        "COCKPIT_PAPER__SESSION": "always_open",
        "LINES": str(ROWS),
        "COLUMNS": str(COLS),
    })
    frame_hz = args.frame_hz
    if frame_hz is None:
        frame_hz = float(AppSection.model_fields["frame_hz"].default)
    else:
        env["COCKPIT_APP__FRAME_HZ"] = str(frame_hz)
    term = Terminal(_cockpit_command(), env)
    try:
        painted = term.wait_for(b"PAPER", 30.0)
        if painted is None:
            print("cockpit did not paint within 30 s; last output:", term.tail[-500:],
                  file=sys.stderr)
            return 1
        first_paint_ms = (painted - term.start) * 1000
        term.drain(2.0)  # warm up: the first quotes, the first chart layout
        term.send(DOWN + DOWN)  # NIFTY -> SBIN
        term.wait_for(b"SBIN  NSE", 5.0)
        term.drain(1.0)

        cpu0, wall0 = _cpu_seconds(term.proc.pid), time.monotonic()
        bytes0 = term.total
        term.drain(args.steady)
        steady_bytes = term.total - bytes0
        steady_wall = time.monotonic() - wall0

        latencies: list[float] = []
        on_sbin = True
        for _ in range(args.keys):
            key, expect = (DOWN, b"RELIANCE  NSE") if on_sbin else (UP, b"SBIN  NSE")
            sent = term.send(key)
            seen = term.wait_for(expect, 2.0)
            if seen is not None:
                latencies.append((seen - sent) * 1000)
            on_sbin = not on_sbin
            term.drain(0.15)
        cpu1, wall1 = _cpu_seconds(term.proc.pid), time.monotonic()
    finally:
        if term.proc.poll() is None:
            term.proc.send_signal(signal.SIGTERM)
            try:
                term.proc.wait(10)
            except subprocess.TimeoutExpired:
                term.proc.kill()
        os.close(term.master)

    events_per_s = 0.0
    log_file = home / "logs" / "cockpit.log"
    if log_file.exists():
        for line in log_file.read_text(encoding="utf-8").splitlines():
            with_events = line if '"events"' in line else ""
            if with_events:
                try:
                    record = json.loads(with_events)
                except ValueError:
                    continue
                total = int(record.get("events", 0))
                events_per_s = total / max(1e-9, wall1 - term.start)
    if not latencies:
        print("no key was seen painted", file=sys.stderr)
        return 1
    print(f"ui_frame_hz: {frame_hz:g} Hz")
    print(f"ui_first_paint_ms: {first_paint_ms:.0f} ms")
    print(f"ui_key_to_paint_p50_ms: {_percentile(latencies, 50):.1f} ms")
    print(f"ui_key_to_paint_p99_ms: {_percentile(latencies, 99):.1f} ms")
    print(f"ui_keys_painted: {len(latencies)}/{args.keys} keys")
    print(f"ui_cpu_pct: {(cpu1 - cpu0) * 100 / (wall1 - wall0):.1f} %")
    print(f"ui_bytes_per_s: {steady_bytes / steady_wall:.0f} B/s")
    print(f"ui_feed_events_per_s: {events_per_s:.0f} events/s")
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
