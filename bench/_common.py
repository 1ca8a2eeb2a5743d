"""Helpers shared by the bench scripts: machine description and BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
PIAF = ROOT.parent / "shared" / "eval" / "piaf-dev.json"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def command() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def append_section(title: str, body: str) -> None:
    """Append a dated section with the machine and the command that produced it."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"\n### {title} ({stamp})\n\nMachine: {machine()}  \nCommand: `{command()}`\n\n{body.strip()}\n"
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# Benchmarks\n\nEvery figure here was produced by a script in `bench/`; each section names its command.\n")
    with BENCHMARKS.open("a") as handle:
        handle.write(text)
    print(text)


def drop_previous_sections(text: str, script: str) -> str:
    """`text` without the "### " sections (and their "#### " parts) whose command ran `script`: BENCHMARKS.md
    keeps one latest section per script, git the history."""
    out: list[str] = []
    section: list[str] = []

    def flush() -> None:
        if not any(line.startswith(f"Command: `python bench/{script}") for line in section):
            out.extend(section)
        section.clear()

    for line in text.split("\n"):
        if line.startswith(("## ", "# ")):
            flush()
            out.append(line)
        elif line.startswith("### "):
            flush()
            section.append(line)
        elif section:
            section.append(line)
        else:
            out.append(line)
    flush()
    return "\n".join(out)


def publish(title: str, body: str, no_write: bool, part: str | None = None) -> None:
    """Print the section (`--no-write`) or write it to BENCHMARKS.md in place of this script's previous one:
    at the end of `part` (a "## " heading) when given and present, else at the end of the file."""
    if no_write:
        print(body)
        return
    BENCHMARKS.write_text(drop_previous_sections(BENCHMARKS.read_text(), Path(sys.argv[0]).name))
    if part is None or part not in BENCHMARKS.read_text():
        append_section(title, body)
    else:
        text = BENCHMARKS.read_text()
        start = text.index(part) + len(part)
        nxt = text.find("\n## ", start)
        head, tail = (text, "") if nxt < 0 else (text[:nxt], text[nxt:])
        BENCHMARKS.write_text(head.rstrip("\n") + "\n")
        append_section(title, body)  # appended at the end ...
        appended = BENCHMARKS.read_text()[len(head.rstrip("\n")) + 1 :]
        BENCHMARKS.write_text(head.rstrip("\n") + "\n" + appended.rstrip("\n") + "\n" + tail)  # ... and put back before the rest


def piaf_missing() -> bool:
    """True, after saying so, when the PIAF dev file is not beside the project."""
    if PIAF.exists():
        return False
    print(f"skipped: {PIAF} is absent (it lives in ../shared/eval beside the project)")
    return True


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


SUMMARY_START = "<!-- current figures: start -->"
SUMMARY_END = "<!-- current figures: end -->"


def refresh_rows(rows: list[list[str]]) -> None:
    """Replace the rows of the current-figures table at the top of BENCHMARKS.md whose first cell
    matches one of `rows` (a new one is added at the end of the table)."""
    text = BENCHMARKS.read_text()
    head, start, rest = text.partition(SUMMARY_START)
    table, end, tail = rest.partition(SUMMARY_END)
    if not start or not end:
        raise SystemExit(f"{BENCHMARKS}: the current-figures table markers are missing")
    lines = table.strip("\n").splitlines()
    for row in rows:
        line = "| " + " | ".join(row) + " |"
        at = next((i for i, old in enumerate(lines) if old.split("|")[1].strip() == row[0]), None)
        if at is None:
            lines.append(line)
        else:
            lines[at] = line
    BENCHMARKS.write_text(head + start + "\n" + "\n".join(lines) + "\n" + end + tail)


def refresh_section(key: str, title: str, body: str) -> None:
    """Replace the section between `<!-- bench:KEY -->` markers (added at the end when absent),
    stamped with the date, the machine and the command."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    begin, end = f"<!-- bench:{key}: start -->", f"<!-- bench:{key}: end -->"
    section = f"{begin}\n### {title} ({stamp})\n\nMachine: {machine()}  \nCommand: `{command()}`\n\n{body.strip()}\n{end}"
    text = BENCHMARKS.read_text()
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)
