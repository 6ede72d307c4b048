"""Screenshot of the admin report on the demo's store: `.venv/bin/python docs/report_screenshot.py`.

Runs `connector demo` (the embedded sandbox, `var/demo.db`), writes `var/report.html` with
`connector report --html` on that store, and has Debian's headless Chromium draw it into
`var/report.png`. The data are the sandbox's generated learners, not real people.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONNECTOR = str(Path(sys.executable).parent / "connector")


def main() -> None:
    """Demo, report, screenshot."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    subprocess.run([CONNECTOR, "demo"], cwd=ROOT, env=env, check=True)  # noqa: S603
    database = ROOT / "var" / "demo.db"
    with sqlite3.connect(database) as conn:  # the store answers only for the API it was made for
        (base_url,) = conn.execute("SELECT base_url FROM store_identity").fetchone()
    env["CONNECTOR_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    env["CONNECTOR_WISENET_BASE_URL"] = base_url
    page = ROOT / "var" / "report.html"
    subprocess.run([CONNECTOR, "report", "--html", str(page)], cwd=ROOT, env=env, check=True)  # noqa: S603
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("install Debian's chromium (apt-get install chromium) for the screenshot")
    picture = ROOT / "var" / "report.png"
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={picture}",
            "--window-size=1000,1900",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    print(f"{picture}")  # noqa: T201


if __name__ == "__main__":
    main()
