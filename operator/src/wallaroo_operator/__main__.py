"""`python -m wallaroo_operator`: the command line in wallaroo_operator.cli."""

from __future__ import annotations

from wallaroo_operator.cli import main

if __name__ == "__main__":
    main()
