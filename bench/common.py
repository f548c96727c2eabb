"""Shared pieces of the benchmarks: the machine, tables, and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
# A benchmark's partner: every rate limit and quota out of the way.
PARTNER_WITHOUT_LIMITS = {
    "burst_limit": 10**6,
    "sustained_limit": 10**7,
    "upload_burst_limit": 10**6,
    "upload_hourly_limit": 10**7,
    "daily_quota": 10**7,
}


def machine() -> str:
    """Cores, CPU (with its family/model and widest vector instructions: the
    same model name covers CPU generations that train at very different
    speeds), Python and kernel."""
    cpu = platform.processor() or "unknown CPU"
    try:
        info = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in Path("/proc/cpuinfo").read_text().splitlines())
            if value
        )
    except OSError:
        info = {}
    if info:
        flags = set(info.get("flags", "").split())
        vector = next(
            (
                name
                for flag, name in (
                    ("amx_bf16", "AMX"),
                    ("avx512_bf16", "AVX-512 BF16"),
                    ("avx512f", "AVX-512"),
                    ("avx2", "AVX2"),
                )
                if flag in flags
            ),
            "no AVX2",
        )
        cpu = f"{info.get('model name', cpu)} (family {info.get('cpu family', '?')}, model {info.get('model', '?')}, {vector})"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} cores, {cpu}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def ms_per_call(call, seconds: float, min_calls: int = 3) -> float:
    """Milliseconds per call of `call()`: one warm-up call, then at least
    `min_calls` calls and at least `seconds` of them."""
    call()
    calls, started = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - started < seconds:
        call()
        calls += 1
    return (time.perf_counter() - started) / calls * 1000


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=False)) + " |",
        "| " + " | ".join("-" * w for w in widths) + " |",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |" for row in cells[1:]]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4f}"
    return str(value)


def command_line() -> str:
    return (
        " ".join(["python", "-m", sys.argv[0].replace("/", ".").removesuffix(".py")] + sys.argv[1:])
        if sys.argv[0].endswith(".py")
        else " ".join(sys.argv)
    )


def write_section(name: str, title: str, body: str, command: str) -> None:
    """Replace (or append) one benchmark's section in docs/benchmarks.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"Command: `{command}`  \nMachine: {machine()}  \nRun: {stamp}\n\n{body.strip()}\n"
        f"<!-- /bench:{name} -->"
    )
    DOC.parent.mkdir(exist_ok=True)
    text = (
        DOC.read_text()
        if DOC.exists()
        else (
            "# Benchmarks\n\nEach section is rewritten by the benchmark named in it (`make bench` runs them all).\n"
            "Figures are from the machine named in the section.\n\n"
        )
    )
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


def photo_installation(var_name: str, *, epochs: int = 1, limit: int | None = 2000) -> None:
    """Set up Django in a scratch installation (var/<var_name>/, SQLite) with
    the models a production worker serves: the ImageNet tagger, the adult
    scorer, the open-set gate, the real-photo product model and a product
    model (a seed-cnn of `epochs` on `limit` images, None: all, if none is active)."""
    os.environ["VAR_DIR"] = str(ROOT / "var" / var_name)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    import django

    django.setup()
    from django.core.management import call_command

    from classifier.models import ModelRole
    from classifier.registry import active_version_id

    call_command("migrate", verbosity=0)
    call_command("install_models")
    if active_version_id(ModelRole.PRODUCT) is None:
        sample = {} if limit is None else {"limit": limit}
        call_command("train_classifier", architecture="seed-cnn", epochs=epochs, activate="always", **sample)
