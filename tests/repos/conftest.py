"""The folders here are fixture repositories that ``modelcheck lint`` is run on (tests/test_repos.py),
never test folders: pytest must not collect them, nor import their ``conftest.py`` and ``setup.py``."""

collect_ignore_glob = ["*"]
