"""Every Python block in the README and the guides runs, and prints what the text says.

Blocks of one file run in order in one namespace, as a reader would run them. A block
of one assignment (``tx = ...``: "change one line") runs as the previous block with that
line swapped in. When the text right after a block says it ``printed `...` `` or
``prints `...` ``, that output must appear in what the block printed.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```\n(.*?)(?=```|\Z)", re.S)
CLAIM = re.compile(r"(?:printed|prints) `([^`]+)`")


def blocks(path: Path) -> list[tuple[str, list[str]]]:
    """(code, claimed outputs) for each Python block of a Markdown file."""
    text = path.read_text()
    out = []
    for code, after in BLOCK.findall(text):
        first_paragraph = after.strip().split("\n\n")[0]
        out.append((code, CLAIM.findall(first_paragraph)))
    return out


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run_and_print_what_the_text_says(path):
    namespace: dict = {"__name__": "__docs__"}
    found = blocks(path)
    previous = ""
    for code, claims in found:
        swap = re.fullmatch(r"(\w+) = .*\n", code)
        if swap:
            lines = previous.splitlines(keepends=True)
            at = [i for i, line in enumerate(lines) if line.startswith(f"{swap[1]} = ")]
            assert len(at) == 1, f"a one-line swap of {swap[1]!r} needs one line to replace"
            lines[at[0]] = code
            code = "".join(lines)
        else:
            previous = code
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, str(path), "exec"), namespace)
        for claim in claims:
            assert claim in printed.getvalue(), (claim, printed.getvalue())


def test_the_readme_has_blocks_with_claims():
    found = blocks(ROOT / "README.md")
    assert len(found) >= 3
    assert sum(len(claims) for _, claims in found) >= 3
