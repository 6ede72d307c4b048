"""A tag the connector refuses blocks its writes: one error, exit 1, no dead letters, no PATCH.

Through `main` against a served sandbox: a same-named staff tag the mapping does not adopt, and
an archived owned tag. The writes wait as blocked (`status` counts them) and are sent by the
first run after the fix.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.errors import TagRefusedError
from connector.sandbox.app import SandboxServer
from jobs.cli.main import EXIT_CONFIGURATION, EXIT_FAILED, EXIT_OK, main
from jobs.pipeline.runs import sync
from jobs.pipeline.tag_definitions import TagDefinitions
from jobs.service.job_runner import write_only
from tests.support.bundles import DEFAULT_MAPPING
from tests.support.clock import FakeClock
from tests.support.dead_letters import seed_dead_letter
from tests.support.rig import Rig
from tests.support.sandbox import TODAY, control, served, settings_for

pytestmark = pytest.mark.integration
CERTIFIED = "certified"
ADOPTED = "    - name: certified\n      adopt_existing: true\n"
PLANNED = re.compile(
    r"^plan: learner \d+ enrolment (\d+) add \S+ remove \S+( blocked by certified)?$"
)
WRITES = ("PATCH ", "POST ", "PUT ", "DELETE ")
NOTHING_KEPT = "dry run: nothing kept (CONNECTOR_DRY_RUN=true)"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SandboxServer]:
    """A served sandbox and settings aimed at it, with a store file of its own."""
    with served() as served_sandbox:
        store = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
        for name, value in settings_for(served_sandbox, store).items():
            monkeypatch.setenv(f"CONNECTOR_{name}", value)
        yield served_sandbox


@pytest.fixture
def clock() -> FakeClock:
    """The connector's clock: the sandbox's today, in the evening."""
    return FakeClock(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))


def run(
    capsys: pytest.CaptureFixture[str], clock: FakeClock, *argv: str
) -> tuple[int, str, list[dict[str, Any]]]:
    """One command through `main`: its exit code, stdout and the JSON log lines of stderr."""
    capsys.readouterr()
    code = main(list(argv), clock=clock)
    out, err = capsys.readouterr()
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return code, out, events


def status(capsys: pytest.CaptureFixture[str], clock: FakeClock) -> dict[str, Any]:
    """`status --json`."""
    code, out, _ = run(capsys, clock, "status", "--json")
    assert code == EXIT_OK
    facts: dict[str, Any] = json.loads(out)
    return facts


def requests(server: SandboxServer) -> dict[str, int]:
    """The sandbox's request counts by `METHOD /template`, then counting from zero again."""
    counted: dict[str, int] = control(server, "GET", "/counters")["by_endpoint"]
    control(server, "POST", "/counters/reset")
    return counted


def patches(counted: dict[str, int]) -> int:
    """PATCHes among counted requests."""
    return sum(n for endpoint, n in counted.items() if endpoint.startswith("PATCH "))


def staff_tag(server: SandboxServer, *, archived: bool = False) -> int:
    """A course-enrolment tag named `certified`, made by staff; its id."""
    made = control(server, "POST", "/tags", json={"name": CERTIFIED, "archived": archived})
    tag_id: int = made["Data"]["TagId"]
    return tag_id


def tag_names(server: SandboxServer) -> list[str]:
    """The names of the account's tag definitions."""
    listed = httpx.get(f"{server.base_url}/tags", headers={"x-api-key": "sandbox-key"}).json()
    return [tag["Data"]["Name"] for tag in listed]


def adopting_mapping(folder: Path) -> Path:
    """The default mapping, adopting an existing `certified` tag."""
    text = DEFAULT_MAPPING.read_text(encoding="utf-8")
    assert text.count("    - name: certified\n") == 1
    path = folder / "adopting.yaml"
    path.write_text(text.replace("    - name: certified\n", ADOPTED), encoding="utf-8")
    return path


def errors_naming(events: list[dict[str, Any]], words: str) -> list[dict[str, Any]]:
    """Error-level log events that mention `words`."""
    return [e for e in events if e.get("level") == "error" and words in json.dumps(e)]


def assert_blocked(facts: dict[str, Any], needle: str) -> int:
    """`status` shows the certified writes blocked with the fix, no dead letters; how many."""
    [group] = facts["blocked"]
    assert group["tag"] == CERTIFIED
    assert needle in group["reason"]
    assert group["writes"] > 0
    assert facts["dead_letters"] == 0
    writes: int = group["writes"]
    return writes


def test_a_staff_tag_not_adopted_blocks_its_writes_until_the_mapping_adopts_it(
    server: SandboxServer, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 with one error naming adopt_existing; adopting sends exactly the blocked writes."""
    staff_tag(server)
    control(server, "POST", "/counters/reset")
    code, out, events = run(capsys, clock, "sync")
    assert code == EXIT_FAILED, (out, events[-3:])
    assert len(errors_naming(events, "adopt_existing")) == 1
    assert not [e for e in events if e.get("event") == "write.failed"]
    blocked = assert_blocked(status(capsys, clock), "adopt_existing: true")
    assert f"{blocked} write(s) blocked: tag 'certified' already exists" in out
    first = requests(server)
    assert patches(first) == int(out.split("writes: ")[1].split(" done")[0])
    assert tag_names(server).count(CERTIFIED) == 1  # never shadowed by a second definition

    code, text, _ = run(capsys, clock, "status")
    assert f"{blocked} write(s) blocked: tag 'certified' already exists" in text
    assert f"writes waiting: 0 queued for the budget, {blocked} blocked" in text

    # Nothing fixed: a sweep plans the same writes again; they are blocked again, unsent.
    code, out, events = run(capsys, clock, "sweep")
    assert code == EXIT_FAILED
    assert len(errors_naming(events, "adopt_existing")) == 1
    assert patches(requests(server)) == 0
    assert assert_blocked(status(capsys, clock), "adopt_existing: true") == blocked

    code, _, _ = run(capsys, clock, "mapping", "apply", str(adopting_mapping(tmp_path)), "--yes")
    assert code == EXIT_OK
    code, out, events = run(capsys, clock, "sync")
    assert code == EXIT_OK, out
    assert patches(requests(server)) == blocked
    facts = status(capsys, clock)
    assert facts["blocked"] == []
    assert facts["outbox"] == 0
    assert facts["dead_letters"] == 0
    assert not errors_naming(events, CERTIFIED)


def test_an_archived_owned_tag_blocks_its_writes_until_it_is_restored(
    server: SandboxServer, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A backfill exits 1 naming the archive; restoring the tag in Wisenet releases the writes."""
    monkeypatch = pytest.MonkeyPatch()
    with monkeypatch.context() as patched:
        patched.setenv("CONNECTOR_MAPPING_FILE", str(adopting_mapping(tmp_path)))
        tag_id = staff_tag(server, archived=True)
        code, out, events = run(capsys, clock, "backfill")
        assert code == EXIT_FAILED
        assert len(errors_naming(events, "archived")) == 1
        blocked = assert_blocked(status(capsys, clock), "un-archive it")
        assert f"{blocked} write(s) blocked: owned tag 'certified' is archived" in out
        requests(server)

        control(server, "POST", f"/tags/{tag_id}/archive", json={"archived": False})
        code, out, events = run(capsys, clock, "sync")
        assert code == EXIT_OK, out
        counted = requests(server)
        assert patches(counted) == blocked
        assert counted["GET /tags"] == 1  # the definitions are read once, before any write
        facts = status(capsys, clock)
        assert facts["blocked"] == []
        assert facts["outbox"] == 0
        assert facts["dead_letters"] == 0


@pytest.mark.parametrize("command", ["replay", "discard"])
def test_unknown_dead_letter_ids_are_refused_and_nothing_changes(
    server: SandboxServer, clock: FakeClock, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A known id beside an unknown one: exit 2, one line naming the unknown id, nothing done."""
    assert run(capsys, clock, "sync")[0] == EXIT_OK
    code, out, _ = run(capsys, clock, "export", "--json")
    assert code == EXIT_OK
    row = json.loads(out.splitlines()[0])
    seed_dead_letter(clock, row["course_enrolment_id"], row["learner_id"], [CERTIFIED])
    _, listed, _ = run(capsys, clock, "deadletters", "list", "--json")
    known = json.loads(listed)["id"]
    before = status(capsys, clock)

    capsys.readouterr()
    code = main(["deadletters", command, str(known), str(known + 1)], clock=clock)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_CONFIGURATION
    assert len(err) == 1
    assert f"no dead letter with id {known + 1} " in err[0]
    after = status(capsys, clock)
    assert after["dead_letters"] == before["dead_letters"] == 1
    assert after["last_runs"] == before["last_runs"]
    _, still, _ = run(capsys, clock, "deadletters", "list", "--json")
    assert still == listed


@pytest.mark.parametrize("command", ["sync", "backfill", "reconcile"])
def test_a_run_that_cannot_reach_wisenet_exits_1(
    server: SandboxServer,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """Wisenet unreachable (its server stopped): the run fails with exit 1."""
    assert run(capsys, clock, "sync")[0] == EXIT_OK
    server.stop()
    capsys.readouterr()
    code = main([command], clock=clock)
    err = capsys.readouterr().err.splitlines()
    assert code == EXIT_FAILED
    assert err[-1].startswith("error: ")


def test_a_write_wisenet_refuses_is_logged_with_its_reason_and_the_run_exits_1(
    server: SandboxServer, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Staff delete the connector's `certified` tag: the next certified write is refused (400)."""
    assert run(capsys, clock, "sync")[0] == EXIT_OK
    listed = httpx.get(f"{server.base_url}/tags", headers={"x-api-key": "sandbox-key"}).json()
    tag_id = next(t["Data"]["TagId"] for t in listed if t["Data"]["Name"] == CERTIFIED)
    control(server, "DELETE", f"/records/Tag/{tag_id}")
    _, exported, _ = run(capsys, clock, "export", "--json")
    overdue = next(
        row
        for row in map(json.loads, exported.splitlines())
        if "certificate-overdue" in row["desired_tags"]
    )
    ce = overdue["course_enrolment_id"]
    control(server, "POST", f"/course-enrolments/{ce}/credentials", json={})
    clock.advance(3600)

    code, out, events = run(capsys, clock, "sync")
    assert code == EXIT_FAILED
    [failed] = [e for e in events if e.get("event") == "write.failed"]
    assert failed["level"] == "warning"
    assert failed["course_enrolment_id"] == ce
    assert failed["reason"] == "rejected"
    assert "1 write(s) failed: Wisenet refused them" in out
    assert status(capsys, clock)["dead_letters"] == 1


def test_a_same_named_staff_tag_on_an_enrolment_is_never_taken_off(
    server: SandboxServer, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Staff put their `certified` on an enrolment the mapping does not certify: it stays."""
    tag_id = staff_tag(server)
    assert run(capsys, clock, "sync")[0] == EXIT_FAILED
    written = {patch["id"] for patch in control(server, "GET", "/patches")}
    _, exported, _ = run(capsys, clock, "export", "--json")
    ce = next(
        row["course_enrolment_id"]
        for row in map(json.loads, exported.splitlines())
        if row["course_enrolment_id"] in written and CERTIFIED not in row["desired_tags"]
    )
    headers = {"x-api-key": "sandbox-key"}
    url = f"{server.base_url}/course-enrolments/{ce}"
    tags = httpx.get(url, headers=headers).json()["Data"]["TagIds"]
    control(
        server,
        "POST",
        f"/records/CourseEnrolment/{ce}",
        json={"TagIds": [*tags, {"TagId": tag_id}]},
    )
    clock.advance(3600)
    requests(server)

    code, _, events = run(capsys, clock, "sync")
    assert code == EXIT_FAILED
    assert patches(requests(server)) == 0
    assert len(errors_naming(events, "adopt_existing")) == 1
    kept = httpx.get(url, headers=headers).json()["Data"]["TagIds"]
    assert {"TagId": tag_id} in [{"TagId": t["TagId"]} for t in kept]


async def test_the_minute_writer_spends_no_request_on_blocked_writes(rig: Rig) -> None:
    """The service's writer (every minute) trusts the stored tag definitions for blocked writes."""
    control(rig.server, "POST", "/tags", json={"name": CERTIFIED})
    report = await sync(rig.ctx)
    assert report.writes_blocked > 0
    control(rig.server, "POST", "/counters/reset")
    again = await write_only(rig.ctx)
    assert again.writes_blocked == report.writes_blocked
    assert control(rig.server, "GET", "/counters")["total"] == 0


def planned(out: str) -> tuple[set[int], set[int]]:
    """The enrolments a printed plan writes, and those it shows blocked by `certified`."""
    to_write: set[int] = set()
    blocked: set[int] = set()
    for line in out.splitlines():
        found = PLANNED.match(line)
        if found:
            (blocked if found.group(2) else to_write).add(int(found.group(1)))
    return to_write, blocked


def blocked_in_store(folder: Path) -> set[int]:
    """The enrolments whose writes the store holds blocked by `certified` (read directly)."""
    with closing(sqlite3.connect(folder / "c.db")) as conn:
        rows = conn.execute(
            "SELECT course_enrolment_id FROM outbox WHERE blocked_tag = ?", (CERTIFIED,)
        )
        return {int(ce) for (ce,) in rows}


def patched(server: SandboxServer, since: int) -> set[int]:
    """The enrolments the sandbox saw PATCHed after its first `since` PATCHes."""
    return {entry["id"] for entry in control(server, "GET", "/patches")[since:]}


def test_a_dry_run_plans_blocked_exactly_the_writes_the_real_run_blocks(
    server: SandboxServer, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A staff `certified` not adopted: the dry run plans what the real sync sends and blocks."""
    staff_tag(server)
    control(server, "POST", "/counters/reset")
    code, out, _ = run(capsys, clock, "sync", "--dry-run")
    assert code == EXIT_OK, out
    to_write, blocked = planned(out)
    assert to_write
    assert blocked
    assert f"plan: {len(to_write)} enrolments to write, {len(blocked)} blocked;" in out
    assert f"{len(to_write)} planned (dry run: none sent), {len(blocked)} blocked" in out
    assert f"plan: {len(blocked)} write(s) blocked by certified: tag 'certified' already" in out
    dry = requests(server)
    assert not [endpoint for endpoint in dry if endpoint.startswith(WRITES)]
    assert dry["GET /tags"] == 1  # the one read of the definitions the real run makes too

    code, out, _ = run(capsys, clock, "sync")
    assert code == EXIT_FAILED
    assert requests(server)["GET /tags"] == dry["GET /tags"]
    assert patched(server, 0) == to_write
    assert blocked_in_store(tmp_path) == blocked


def test_every_dry_run_plans_a_stores_blocked_writes_as_blocked(
    server: SandboxServer,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocked writes in the store stay blocked in every plan; the real sweep does as planned."""
    staff_tag(server)
    assert run(capsys, clock, "sync")[0] == EXIT_FAILED
    held = blocked_in_store(tmp_path)
    assert held
    sent_before = len(control(server, "GET", "/patches"))
    requests(server)
    sweep_plan: tuple[set[int], set[int]] = (set(), set())
    for argv, dry_env in (
        (("sync", "--dry-run"), False),
        (("backfill", "--dry-run"), False),
        (("reconcile", "--dry-run"), False),
        (("sync",), True),
        (("sweep", "--as-of", TODAY.isoformat()), False),
    ):
        with monkeypatch.context() as patched_env:
            patched_env.setenv("CONNECTOR_DRY_RUN", "true" if dry_env else "false")
            code, out, _ = run(capsys, clock, *argv)
        assert code == EXIT_OK, (argv, out)
        to_write, blocked = planned(out)
        assert blocked == held, argv
        assert f"enrolments to write, {len(held)} blocked;" in out, argv
        counted = requests(server)
        assert not [endpoint for endpoint in counted if endpoint.startswith(WRITES)], argv
        assert counted.get("GET /tags", 0) <= 1, argv
        assert blocked_in_store(tmp_path) == held, argv
        sweep_plan = (to_write, blocked)

    code, _, _ = run(capsys, clock, "sweep")
    assert code == EXIT_FAILED
    assert patched(server, sent_before) == sweep_plan[0]
    assert blocked_in_store(tmp_path) == sweep_plan[1]


def test_commands_that_change_the_store_say_a_dry_run_kept_nothing(
    server: SandboxServer,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under CONNECTOR_DRY_RUN=true, mapping apply, purge and deadletters speak conditionally."""
    staff_tag(server)
    assert run(capsys, clock, "sync")[0] == EXIT_FAILED
    before = status(capsys, clock)
    monkeypatch.setenv("CONNECTOR_DRY_RUN", "true")
    code, out, _ = run(capsys, clock, "mapping", "apply", str(adopting_mapping(tmp_path)), "--yes")
    assert code == EXIT_OK
    assert "mapping version 2 would be active;" in out
    assert "write(s) would be queued" in out
    assert out.splitlines()[-1] == NOTHING_KEPT
    for argv, said in (
        (("purge",), "would purge: "),
        (("deadletters", "replay", "--all"), "would replay 0 dead letter(s)"),
        (("deadletters", "discard", "--all"), "would discard 0 dead letter(s)"),
    ):
        code, out, _ = run(capsys, clock, *argv)
        assert code == EXIT_OK, argv
        assert out.startswith(said), argv
        assert out.splitlines()[-1] == NOTHING_KEPT, argv
    monkeypatch.setenv("CONNECTOR_DRY_RUN", "false")
    after = status(capsys, clock)
    assert after["mapping"]["version"] == before["mapping"]["version"] == 1
    assert after["blocked"] == before["blocked"]


def test_a_preview_counts_the_blocked_writes_a_mapping_releases_in_its_cost(
    server: SandboxServer, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adopting the staff `certified` costs the blocked writes it releases, as the sync sends."""
    staff_tag(server)
    assert run(capsys, clock, "sync")[0] == EXIT_FAILED
    held = len(blocked_in_store(tmp_path))
    adopting = str(adopting_mapping(tmp_path))
    code, out, _ = run(capsys, clock, "mapping", "preview", adopting)
    assert code == EXIT_OK
    assert f"write cost: {held} request(s) ({held} of them blocked writes it releases)" in out
    assert run(capsys, clock, "mapping", "apply", adopting, "--yes")[0] == EXIT_OK
    requests(server)
    assert run(capsys, clock, "sync")[0] == EXIT_OK
    assert patches(requests(server)) == held


async def test_a_tag_created_by_a_process_that_died_before_storing_it_stays_the_connectors(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between `POST /tags` and storing the answer: the next run knows the tag as its own.

    Without the creation recorded first, the tag read back from Wisenet looked like a same-named
    staff tag and blocked every write that needs it.
    """
    save_tags = rig.store.vocabulary.save_tags

    async def killed(*_: object) -> None:
        raise SystemExit("killed")  # the process ends before the answer is stored

    monkeypatch.setattr(rig.store.vocabulary, "save_tags", killed)
    with pytest.raises(SystemExit):
        await TagDefinitions(rig.ctx, []).id_for(CERTIFIED)
    monkeypatch.setattr(rig.store.vocabulary, "save_tags", save_tags)

    report = await sync(rig.ctx)
    assert report.writes_blocked == 0
    assert report.writes_done > 0
    assert tag_names(rig.server).count(CERTIFIED) == 1  # used, not made again
    assert [
        t.created_by_connector for t in await rig.store.vocabulary.tags() if t.name == CERTIFIED
    ] == [True]


@pytest.mark.parametrize("rig", ["sqlite"], indirect=True)  # the definitions' logic: store-neutral
async def test_trusted_definitions_are_read_again_before_a_tag_is_created(rig: Rig) -> None:
    """A drain trusts recent definitions, but never creates a tag on them: a staff one may exist.

    The store knows no `certified` definition; one made by staff appeared after the last read.
    """
    staff_tag(rig.server)
    rig.ctx.tags_read_at = rig.store.clock.now()  # read moments ago, before staff made theirs
    definitions = TagDefinitions(rig.ctx, [], trust_recent=True)
    control(rig.server, "POST", "/counters/reset")
    await definitions.refresh_once()
    assert requests(rig.server) == {}  # trusted: no request
    with pytest.raises(TagRefusedError):
        await definitions.id_for(CERTIFIED)
    assert requests(rig.server) == {"GET /tags": 1}  # read again, and no POST /tags
    assert tag_names(rig.server).count(CERTIFIED) == 1
