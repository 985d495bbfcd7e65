"""Checks that the built API reference has an entry for every name in optax_l1.__all__.

Run by `make docs` after Sphinx: python docs/check_api.py docs/_build/html
"""

import sys
from pathlib import Path

import optax_l1


def main(html_dir: str) -> int:
    page = (Path(html_dir) / "api.html").read_text()
    missing = [name for name in optax_l1.__all__ if f'id="optax_l1.{name}"' not in page]
    if missing:
        print(f"api.html has no entry for: {', '.join(missing)}")
        return 1
    print(f"api.html documents all {len(optax_l1.__all__)} public names")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
