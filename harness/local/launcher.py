"""Start, find and stop the emulator daemon: what `harness local up/status/down` do.

`Emulator.start` runs `python -m harness.local.daemon` detached (its own session, so a
terminal's Ctrl-C does not reach it) with its output in `daemon.log`, and returns once the
daemon has written `emulator.json` and its API answers. `Emulator.stop` sends SIGTERM,
waits, SIGKILLs if it must, and checks that no process the daemon spawned is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

import harness
from harness.errors import BadInput, Unavailable
from harness.local.api_client import api_client
from harness.local.state import (
    LOG_FILE,
    EmulatorInfo,
    read_info,
    remove_info,
)
from harness.statedir import ensure_state_dir

PID_FILE = "daemon.pid"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
METRICS_SCHEMAS = ("legacy", "otel")
MAX_PODS_LIMIT = 100  # each pod is a Python process: a typo should not fork a thousand


def _process_state(pid: int) -> str | None:
    """The /proc state letter of `pid` (None when gone); reaps it if it is our zombie child."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return None
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces or parentheses; the state follows the last ')'.
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    return _process_state(pid) not in (None, "Z", "X")


def _is_daemon(pid: int) -> bool:
    """True if `pid` is alive and is an emulator daemon (guards against a reused pid)."""
    if not alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"harness.local.daemon" in cmdline


def descendants(root: int) -> list[int]:
    """Live processes below `root` in the process tree (revision processes, Prometheus)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields after the command name: state, ppid, ...
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _last_log_line(state_dir: Path) -> str:
    try:
        lines = [line for line in (state_dir / LOG_FILE).read_text().splitlines() if line.strip()]
    except OSError:
        return "no log written"
    return lines[-1] if lines else "no log written"


def _api_answers(info: EmulatorInfo) -> bool:
    try:
        with api_client(info, timeout=2.0) as client:
            return client.get("/healthz").status_code == 200
    except (httpx.HTTPError, Unavailable):
        return False


class Emulator:
    """The emulator daemon of one state folder."""

    @staticmethod
    def status(state_dir: Path) -> EmulatorInfo | None:
        """Where the emulator of `state_dir` answers, or None when it is not running."""
        info = read_info(state_dir)
        if info is None or not _is_daemon(info.pid):
            return None
        return info

    @staticmethod
    def start(
        state_dir: Path,
        port: int = 0,
        demo: bool = False,
        *,
        metrics_schema: str = "legacy",
        domain: str = "example.com",
        max_pods: int = 1,
        scale_to_zero: bool = False,
        scale_to_zero_grace_s: float = 30.0,
        features: tuple[str, ...] = (),
        settings: tuple[str, ...] = (),
        timeout: float = START_TIMEOUT,
    ) -> EmulatorInfo:
        """Start the daemon and return once it answers.

        ``max_pods`` > 1 lets the autoscaler run up to that many pods per revision;
        ``scale_to_zero`` lets it stop the last pod of an idle revision after
        ``scale_to_zero_grace_s`` (requests then wake it through the activator).
        BadInput when one is already running for `state_dir` or a flag is invalid;
        Unavailable (with the log's last line) when it fails to start.
        """
        if metrics_schema not in METRICS_SCHEMAS:
            raise BadInput(f"--metrics-schema must be legacy or otel, not {metrics_schema!r}")
        if not 1 <= max_pods <= MAX_PODS_LIMIT:
            raise BadInput(f"--max-pods must be between 1 and {MAX_PODS_LIMIT}, not {max_pods}")
        if not 0 <= scale_to_zero_grace_s <= 3600:
            raise BadInput(
                "--scale-to-zero-grace-period must be between 0 and 3600 seconds, "
                f"not {scale_to_zero_grace_s:g}"
            )
        if not 0 <= port <= 65535:
            raise BadInput(f"--port must be between 0 and 65535, not {port}")
        from harness.knative.cluster import ClusterConfig
        from harness.knative.cluster_settings import apply_settings
        from harness.knative.features import Features

        try:
            Features.parse(features)  # config-features for admission, as `harness lint`
        except ValueError as exc:
            raise BadInput(f"--feature: {exc}") from exc
        try:
            apply_settings(ClusterConfig(), settings)  # config-defaults / config-autoscaler
        except ValueError as exc:
            raise BadInput(f"--cluster-config: {exc}") from exc
        from harness.knative.urls import require_domain

        require_domain(domain)
        state_dir = ensure_state_dir(state_dir)
        running = _read_pid(state_dir)
        if running is not None and _is_daemon(running):
            info = read_info(state_dir)
            where = f" (API {info.api})" if info else ""
            raise BadInput(f"the emulator is already running for {state_dir}{where}, pid {running}")
        remove_info(state_dir)
        command = [
            sys.executable,
            "-m",
            "harness.local.daemon",
            "--state-dir",
            str(state_dir.resolve()),
            "--port",
            str(port),
            "--metrics-schema",
            metrics_schema,
            "--domain",
            domain,
        ]
        if max_pods > 1:
            command += ["--max-pods", str(max_pods)]
        if scale_to_zero:
            command += [
                "--scale-to-zero",
                "--scale-to-zero-grace-period",
                repr(float(scale_to_zero_grace_s)),
            ]
        if demo:
            command.append("--demo")
        for feature in features:
            command += ["--feature", feature]
        for setting in settings:
            command += ["--cluster-config", setting]
        env = dict(os.environ)
        package_root = str(Path(harness.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        with open(state_dir / LOG_FILE, "wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=state_dir,
                env=env,
                start_new_session=True,
            )
        (state_dir / PID_FILE).write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise Unavailable(
                    f"the emulator failed to start: {_last_log_line(state_dir)} "
                    f"(log: {state_dir / LOG_FILE})"
                )
            info = read_info(state_dir)
            if info is not None and info.pid == process.pid and _api_answers(info):
                return info
            time.sleep(0.05)
        Emulator.stop(state_dir)
        raise Unavailable(
            f"the emulator did not answer within {timeout:.0f}s: {_last_log_line(state_dir)} "
            f"(log: {state_dir / LOG_FILE})"
        )

    @staticmethod
    def stop(state_dir: Path, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop the daemon of `state_dir` and everything it started.

        Returns False when nothing was running (not an error). Processes the daemon
        spawned that outlive it are SIGKILLed; Unavailable if one survives even that.
        """
        pid = _read_pid(state_dir)
        if pid is None or not _is_daemon(pid):
            (state_dir / PID_FILE).unlink(missing_ok=True)
            remove_info(state_dir)
            return False
        # Children run in sessions of their own: note them now, before they are orphaned.
        spawned = descendants(pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        leftovers = [p for p in [pid, *spawned] if alive(p)]
        for member in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while any(alive(m) for m in leftovers) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [m for m in leftovers if alive(m)]
        (state_dir / PID_FILE).unlink(missing_ok=True)
        remove_info(state_dir)
        if survivors:
            raise Unavailable(f"emulator processes {survivors} survived SIGKILL")
        return True
