"""Process plumbing for the benchmarks: start helper and service processes pinned to a CPU, talk
to them over stdin/stdout lines, read their RSS, always stop them.

Placement on the 2-core machine (see docs/benchmarks.md): load generators and measuring sinks
are pinned to CPU 0 (:data:`LOAD_CPU`); the system under test - and each baseline's counterpart
of it - is left to the scheduler (:data:`SUT_CPU` is None), because pinning a process pins its
ZMQ I/O thread to the same core. ``BENCH_PIN_SUT=1`` pins them to CPU 1 instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from services.common.localnet import free_port, tcp  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[1]
LOAD_CPU = 0
SUT_CPU: int | None = (
    (1 if (os.cpu_count() or 1) > 1 else 0) if os.environ.get("BENCH_PIN_SUT") == "1" else None
)


#: ``BENCH_NICE=-10`` runs every benchmark process (load generators, baselines and services
#: alike) at that scheduling priority, so other work on a shared machine delays them less.
NICE = int(os.environ.get("BENCH_NICE", "0") or 0)


def pin(pid: int, cpu: int | None) -> None:
    """Pin ``pid`` to ``cpu`` (None: leave it to the scheduler) and apply :data:`NICE`.

    Called right after the fork, before the child starts its threads, which inherit both.
    """
    if NICE:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, NICE)
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pid, {cpu % (os.cpu_count() or 1)})


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (from /proc)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` (all threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def runq_wait_seconds(pid: int) -> float:
    """Time ``pid``'s threads spent runnable but waiting for a CPU (``/proc/*/schedstat``), in s."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as fh:
                total += int(fh.read().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return total / 1e9


class ProcError(RuntimeError):
    pass


class Proc:
    """A child process with line-based control (stdin) and reports (stdout)."""

    def __init__(
        self,
        argv: list[str],
        *,
        cpu: int | None,
        env: Mapping[str, str] | None = None,
        name: str = "",
        log_dir: Path | None = None,
        capture: bool = True,
    ) -> None:
        self.name = name or argv[-1]
        full_env = dict(env) if env is not None else dict(os.environ)
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self.log_path = (log_dir or Path("/tmp")) / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.log"
        self._err = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if capture else self._err,
            stderr=self._err,
            text=True,
            bufsize=1,
        )
        pin(self.proc.pid, cpu)
        self._sel: selectors.BaseSelector | None = None
        if capture and self.proc.stdout is not None:
            self._sel = selectors.DefaultSelector()
            self._sel.register(self.proc.stdout, selectors.EVENT_READ)

    @classmethod
    def module(cls, module: str, *args: str, cpu: int | None, **kw: Any) -> Proc:
        return cls(
            [sys.executable, "-m", module, *args],
            cpu=cpu,
            name=kw.pop("name", args[0] if args else module),
            **kw,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def readline(self, timeout: float) -> str:
        assert self._sel is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProcError(f"{self.name}: no output within {timeout}s; log {self.log_path}")
            if self._sel.select(left):
                line = self.proc.stdout.readline()
                if not line:
                    raise ProcError(f"{self.name} exited ({self.proc.poll()}): {self.tail()}")
                return line.rstrip("\n")

    def expect(self, prefix: str, timeout: float = 30.0) -> str:
        """Read lines until one starts with ``prefix``; return the rest of it."""
        while True:
            line = self.readline(timeout)
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    def result(self, timeout: float = 120.0) -> dict[str, Any]:
        return dict(json.loads(self.expect("DONE", timeout)))

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def tail(self, n: int = 2000) -> str:
        self._err.flush()
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 8.0) -> None:
        if self.proc.poll() is None:
            self.send("QUIT")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        self._err.close()


class Group:
    """Processes of one benchmark; all stopped on exit, in reverse start order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []
        self.spies: list[subprocess.Popen[bytes]] = []

    def helper(self, role: str, *args: str, cpu: int | None) -> Proc:
        p = Proc([sys.executable, "-m", "bench.procs", role, *args], cpu=cpu, name=role, log_dir=self.log_dir)
        self.procs.append(p)
        return p

    def wsserver(self, frames_path: Path, *args: str, cpu: int | None = LOAD_CPU) -> tuple[Proc, int]:
        p = Proc(
            [sys.executable, "-m", "bench.wsserver", "--frames", str(frames_path), *args],
            cpu=cpu,
            name="wsserver",
            log_dir=self.log_dir,
        )
        self.procs.append(p)
        port = int(p.expect("READY", 60))
        return p, port

    def service(self, module: str, settings: Mapping[str, Any], *, cpu: int | None) -> Proc:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWIRE_", "BYBIT_"))}
        env.update({k if k.isupper() else f"TICKWIRE_{k.upper()}": str(v) for k, v in settings.items()})
        env.setdefault("TICKWIRE_LOG_FORMAT", "json")
        env["PYTHONUNBUFFERED"] = "1"
        name = module.rsplit(".", 1)[-1]
        p = Proc(
            [sys.executable, "-m", module], cpu=cpu, env=env, name=name, log_dir=self.log_dir, capture=False
        )
        self.procs.append(p)
        self._maybe_profile(name, p.pid)
        return p

    def _maybe_profile(self, name: str, pid: int) -> None:
        """``BENCH_PROFILE=feed,book`` attaches py-spy (bench venv) to those services for
        ``BENCH_PROFILE_SECS`` seconds (default 8); raw stacks go to /tmp/bench-<name>-<pid>.prof."""
        wanted = os.environ.get("BENCH_PROFILE", "").split(",")
        pyspy = Path(__file__).resolve().parent / ".peers-venv" / "bin" / "py-spy"
        if name not in wanted or not pyspy.exists():
            return
        secs = os.environ.get("BENCH_PROFILE_SECS", "8")
        out = f"/tmp/bench-{name}-{pid}.prof"
        spy = subprocess.Popen(
            [
                str(pyspy),
                "record",
                "--pid",
                str(pid),
                "-r",
                "400",
                "-d",
                secs,
                "--format",
                "raw",
                "--native",
                "-o",
                out,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.spies.append(spy)

    def close(self) -> None:
        for spy in self.spies:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(30)
        for p in reversed(self.procs):
            p.stop()
        self.procs.clear()


@contextlib.contextmanager
def group(log_dir: Path) -> Iterator[Group]:
    g = Group(log_dir)
    try:
        yield g
    finally:
        g.close()


def wait_for(cond: Any, timeout: float, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise ProcError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
