"""Write a benchmark's table into a marked section of docs/benchmarks.md."""

from __future__ import annotations

import pathlib
import re

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def write_section(name: str, text: str, page: str = "benchmarks.md") -> pathlib.Path:
    """Replace ``<!-- name:start -->...<!-- name:end -->`` (or append it)."""
    path = DOCS / page
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    new = (
        pattern.sub(lambda _: block, old)
        if pattern.search(old)
        else (old.rstrip() + "\n\n" + block + "\n")
    )
    path.write_text(new)
    return path
