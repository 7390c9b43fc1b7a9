"""Top-level tests are the package ``tests`` so that their basenames may repeat in subfolders
(tests/test_conventions.py and tests/crosscheck/test_conventions.py)."""
