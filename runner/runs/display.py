"""How a run's status reads in a terminal: `runner status` prints it once, `status
--watch` redraws it. Kept apart from the CLI so every view of a run says the same."""

from __future__ import annotations

from typing import Any


def status_lines(info: dict[str, Any]) -> list[str]:
    """The lines `runner status` prints for a run's status record (Backend.status)."""
    out = [f"run {info['id']}: {info['status']}" + (f" ({info['reason']})" if info.get("reason") else "")]
    if info.get("azure_run_id"):
        out.append(f"  {info['target']} run {info['azure_run_id']}: {info.get('portal_url', '')}")
    for step in info["steps"]:
        out.append(f"  step {step['name']}: {step.get('status', 'pending')}")
        if step.get("reused_from"):
            out.append(f"    reused the output of run {step['reused_from']}")
        progress = step.get("progress")
        if progress:
            mb, items = progress["mini_batches"], progress["items"]
            total_items = items["total"] if items["total"] is not None else "?"
            out.append(f"    mini-batches: {mb['succeeded']} succeeded, {mb['failed']} failed, "
                       f"{mb['total'] - mb['succeeded'] - mb['failed']} left of {mb['total']}")
            out.append(f"    items: {items['succeeded']} succeeded, {items['failed']} failed, of {total_items}")
            out.append(f"    retries: {progress['retries']}; worker restarts: {progress['worker_restarts']}; "
                       f"{progress['mini_batches_per_second']} mini-batches/s")
        if step.get("code_versions"):
            out.append("    code: " + "; ".join(_code_version(v) for v in step["code_versions"]))
        if step.get("reason"):
            out.append(f"    {step['reason']}")
    return out


def _code_version(version: dict[str, Any]) -> str:
    """`the run's snapshot 1a2b3c4d5e6f, attempts 0, 1: 7 mini-batches, 35 rows`: which
    code made how much of a retried step's output (`runner retry --update-code`)."""
    code, attempts = version["code"], version["attempts"]
    name = "the run's snapshot" if code == 0 else f"retry {code}'s snapshot"
    return (f"{name} {version['snapshot'][:12]}, attempt{'s' if len(attempts) != 1 else ''} "
            f"{', '.join(str(a) for a in attempts)}: {version['mini_batches']} mini-batches, {version['rows']} rows")
