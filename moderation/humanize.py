"""Numbers as people read them: sizes and durations. No Django, no models."""

from __future__ import annotations


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def duration_words(minutes: int) -> str:
    """45 → "45 minutes", 60 → "1 hour", 150 → "2½ hours", 3000 → "2 days"."""
    if minutes < 60:
        return f"{minutes} {_plural(minutes, 'minute')}"
    hours = minutes / 60
    if hours < 24:
        whole, half = int(hours), hours - int(hours) >= 0.5
        if half and whole < 10:
            return f"{whole}½ hours"
        return f"{whole} {_plural(whole, 'hour')}"
    days = round(hours / 24)
    return f"{days} {_plural(days, 'day')}"


def human_bytes(size: int | None) -> str:
    """22092422 → "21.1 MB" (binary multiples, as file managers show them)."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def sizes_over_limit(size: int, limit: int) -> tuple[str, str]:
    """A size and the limit it passes, readable and never shown as equal
    ("1.0 MB; the limit is 1.0 MB"): exact bytes when rounding would hide it."""
    shown, cap = human_bytes(size), human_bytes(limit)
    if shown == cap:
        return f"{size:,} bytes", f"{limit:,} bytes"
    return shown, cap


def frame_words(index: int, timestamp_ms: int | None) -> str:
    """An animation frame as a flag's reason names it ("frame 3 at 1.20 s")."""
    if timestamp_ms is None:
        return f"frame {index} (APNG default image, outside the animation)"
    return f"frame {index} at {timestamp_ms / 1000:.2f} s"
