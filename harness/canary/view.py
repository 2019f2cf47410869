"""The canary's live view: step and split, per-arm load, e-values against thresholds."""

from __future__ import annotations

import math

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from analysis import ArmSnapshot, Verdict
from harness.canary.controller import LookRecord, Plan


def _ms(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f}"


def _arm_row(name: str, snap: ArmSnapshot, previous: ArmSnapshot | None, dt: float) -> list[str]:
    rps = "-"
    if previous is not None and dt > 0:
        rps = f"{(snap.requests - previous.requests) / dt:.0f}"
    p50 = snap.latency.quantile(0.5) if snap.latency and snap.latency.count else None
    p99 = snap.latency.quantile(0.99) if snap.latency and snap.latency.count else None
    rate = f"{100 * snap.errors / snap.requests:.2f}%" if snap.requests else "-"
    return [name, f"{snap.requests}", rps, f"{snap.errors} ({rate})", _ms(p50), _ms(p99)]


def render_look(plan: Plan, look: LookRecord, previous: LookRecord | None) -> Group:
    """One screen: where the rollout is, what each arm does, what each metric says."""
    left = max(0.0, plan.max_duration_s - look.elapsed_s)
    head = Text.assemble(
        (f"{plan.service}", "bold"),
        f"  step {look.step + 1}/{len(plan.steps)}: {plan.canary} {look.percent}% / "
        f"{plan.baseline} {100 - look.percent}%   look {look.seq}   "
        f"{look.elapsed_s:.0f}s elapsed, at most {left:.0f}s left",
    )
    arms = Table("arm", "requests", "req/s", "errors", "p50 ms", "p99 ms", box=None)
    dt = look.elapsed_s - previous.elapsed_s if previous else 0.0
    for role, revision in (("baseline", plan.baseline), ("canary", plan.canary)):
        before = previous.client[role] if previous else None
        arms.add_row(*_arm_row(f"{role} ({revision})", look.client[role], before, dt))
    metrics = _metrics_table(look.verdict, "client")
    parts: list[Table | Text] = [head, arms, metrics]
    if look.server_verdict is not None:
        parts.append(_metrics_table(look.server_verdict, "server (Prometheus)"))
    parts.append(Text(f"decision: {look.decision.value}", style="bold"))
    return Group(*parts)


def _num(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "-"


def _metrics_table(verdict: Verdict, source: str) -> Table:
    table = Table(
        f"metric [{source}]",
        "e-value / threshold",
        "estimate",
        "bound",
        "margin",
        "status",
        box=None,
    )
    for m in verdict.metrics:
        table.add_row(
            m.name,
            f"{m.max_e_value:.3g} / {m.threshold:.3g}",
            _num(m.estimate),
            f"<= {_num(m.upper)}",
            f"{m.margin:.3g}",
            m.status.value.replace("_", " "),
        )
    return table


class LiveView:
    """Rich live view on a terminal; one line per look elsewhere (CI logs)."""

    def __init__(self, console: Console, plan: Plan) -> None:
        self.console = console
        self.plan = plan
        self._previous: LookRecord | None = None
        self._live: Live | None = None
        if console.is_terminal:
            self._live = Live(console=console, refresh_per_second=4, transient=False)
            self._live.start()

    def look(self, look: LookRecord) -> None:
        if self._live is not None:
            self._live.update(render_look(self.plan, look, self._previous))
        else:
            b, c = look.client["baseline"], look.client["canary"]
            worst = max(
                look.verdict.metrics, key=lambda m: m.max_e_value / m.threshold, default=None
            )
            lead = (
                f", max e {worst.max_e_value:.3g}/{worst.threshold:.3g} ({worst.name})"
                if worst
                else ""
            )
            self.console.print(
                f"look {look.seq} t={look.elapsed_s:.0f}s {self.plan.canary} {look.percent}%: "
                f"baseline {b.requests} req {b.errors} err, canary {c.requests} req {c.errors} err"
                f"{lead} -> {look.decision.value}",
                highlight=False,
            )
        self._previous = look

    def event(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
