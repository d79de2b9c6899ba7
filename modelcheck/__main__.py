"""``python -m modelcheck``: the same as the ``modelcheck`` command."""

from modelcheck.cli import main

if __name__ == "__main__":
    main()
