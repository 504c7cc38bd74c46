"""Browser tests: JupyterLab in chromium, driven by Playwright (see conftest.py)."""
