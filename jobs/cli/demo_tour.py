"""The end of `connector demo`: the commands that look further at the demo's store, as printed.

Each line points `CONNECTOR_DATABASE_URL` at the demo's file; nothing else is needed, since
these commands only read the store and never call Wisenet (so the demo's sandbox, gone by then,
and the store's binding to it do not matter).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from connector.clock import Clock
from connector.store.store import Store

PROGRAM = "connector"


def program_as_invoked(invoked: str, on_path: str | None, cwd: Path) -> str:
    """The program as the user can run it again, from what they ran (`sys.argv[0]`).

    `connector` when that name on PATH (`on_path`, as `shutil.which` finds it) is this very
    program; else the path they invoked, relative to `cwd` when inside it (`.venv/bin/connector`
    after a setup that does not put the venv on PATH).
    """
    ran = Path(os.path.normpath(cwd / invoked))  # symbolic links kept: the path as typed
    if on_path is not None and (cwd / on_path).resolve() == ran.resolve():
        return PROGRAM
    if ran.is_relative_to(cwd):
        inside = ran.relative_to(cwd)
        return str(inside) if inside.parent != Path() else f"./{inside}"
    return str(ran)


def tour_lines(
    database: Path, mapping_file: str, learner_id: int | None, program: str = PROGRAM
) -> list[str]:
    """The commands to run next, as `program`, each with the setting that points at `database`."""
    setting = shlex.quote(f"CONNECTOR_DATABASE_URL=sqlite+aiosqlite:///{database}")
    page = database.with_name(f"{database.stem}-report.html")
    commands = ["status", "report", f"report --html {shlex.quote(str(page))}"]
    if learner_id is not None:
        commands.append(f"explain {learner_id}")
    commands += ["worklist --kind overdue", "digest"]
    commands.append(f"mapping preview {shlex.quote(mapping_file)}")
    return [
        "look further at the demo's store (no call to Wisenet):",
        *(f"  {setting} {shlex.quote(program)} {command}" for command in commands),
    ]


async def learner_to_explain(database_url: str, clock: Clock) -> int | None:
    """A stored learner with a stage (the first by course enrolment), for `explain`."""
    store = await Store.open_existing(database_url, clock)
    try:
        async for row in store.runs.export():
            if row["learner_stage"] is not None:
                return int(row["learner_id"])
        return None
    finally:
        await store.close()


async def demo_tour(
    database: Path, mapping_file: str, clock: Clock, program: str = PROGRAM
) -> list[str]:
    """`tour_lines` for the demo's store at `database`, with a learner of it to explain."""
    learner_id = await learner_to_explain(f"sqlite+aiosqlite:///{database}", clock)
    return tour_lines(database, mapping_file, learner_id, program)
