"""`ruam`: the operator's command line (README, "Operations"; docs/runbook.md).

    ruam status                          health, lag, outbox backlog, dead letters
    ruam alerts                          what Prometheus finds firing, with the runbook
    ruam dlq list | show ID | replay ID  dead letters, through each service's /v1/dlq
    ruam case show SPT-2569-000123       a case's timeline, from routing
    ruam directory check | reload        the organisation directory routing reads
    ruam rebuild satisfaction            survey's exact recount
    ruam replay --topic T --from X       a topic range fed again to its consumers

Every command takes `--json` for scripts and exits with a code that says what happened
(tools/ruam/services.py: 0 fine, 1 needs attention, 2 a wrong command line, 3 unavailable,
4 not found, 5 refused).
It signs in like any operator, with the password grant at the services' issuer
(tools/accounts.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tools.ruam import bus
from tools.ruam.services import (
    EXIT_ATTENTION,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    OUTBOX_STALE_SECONDS,
    Addresses,
    Failure,
    Services,
    ServiceStatus,
    failure_of,
    firing_alerts,
    status_all,
    status_exit_code,
)

T = TypeVar("T")

app = typer.Typer(
    name="ruam",
    help="Ruam's operator command line: status, dead letters, cases, replays.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(help="Dead letters: list, show, replay.", no_args_is_help=True)
case_app = typer.Typer(help="Cases, from routing.", no_args_is_help=True)
directory_app = typer.Typer(help="The organisation directory routing reads.", no_args_is_help=True)
rebuild_app = typer.Typer(help="Rebuild a read model from what is stored.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(case_app, name="case")
app.add_typer(directory_app, name="directory")
app.add_typer(rebuild_app, name="rebuild")

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)

# The unit tests put their fake services here (an httpx.MockTransport).
TRANSPORT: httpx.AsyncBaseTransport | None = None


class _State:
    profile = "local"
    account: str | None = None  # None: each command's own (the operator; the auditor reads cases)


STATE = _State()

JsonOption = Annotated[bool, typer.Option("--json", help="JSON on stdout, for scripts.")]


@app.callback()
def _options(
    profile: Annotated[
        str,
        typer.Option(
            help="Which stack's ports: local (make up), test or chaos (deploy/local/stack.py)."
        ),
    ] = "local",
    account: Annotated[
        str | None,
        typer.Option(
            "--as",
            envvar="RUAM_ACCOUNT",
            help="The account to sign in as (its password: RUAM_DEMO_PASSWORD, or the demo's); "
            "default: operator, and auditor to read a case.",
        ),
    ] = None,
) -> None:
    STATE.profile = profile
    STATE.account = account


def main() -> None:
    """The console script's entry point."""
    app()


# --------------------------------------------------------------------------- plumbing


def services(default_account: str = "operator") -> Services:
    try:
        addresses = Addresses.of(STATE.profile)
    except ValueError as exc:
        raise Failure(EXIT_USAGE, str(exc)) from exc
    account = STATE.account or default_account
    return Services(addresses, account=account, transport=TRANSPORT)


def run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`, turning a Failure into its message and exit code."""
    try:
        return asyncio.run(work())
    except Failure as exc:
        err.print(f"[red]ruam:[/] {exc}")
        raise typer.Exit(exc.code) from None


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}{unit}"


# --------------------------------------------------------------------------- status


@app.command()
def status(
    service: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="Only these (repeatable).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Health of every service, its consumer lag, outbox backlog and dead letters.

    Exit code: 0 all healthy; 1 dead letters wait or the outbox is older than a minute;
    3 a service is down or unhealthy."""

    async def work() -> list[ServiceStatus]:
        async with services() as svc:
            names = service or list(svc.addresses.urls)
            for name in names:
                svc.url(name, "")  # an unknown name is a usage error, before any call
            return await status_all(svc, names)

    statuses = run(work)
    code = status_exit_code(statuses)
    if json_out:
        emit_json(
            {
                "services": [s.__dict__ for s in statuses],
                "healthy": code != EXIT_UNAVAILABLE,
                "attention": code == EXIT_ATTENTION,
            }
        )
        raise typer.Exit(code)
    table = Table(title=f"Ruam services ({STATE.profile})", title_justify="left")
    for column in ("service", "health"):
        table.add_column(column)
    for column in ("lag", "outbox", "oldest", "dead letters"):
        table.add_column(column, justify="right")
    table.add_column("version")
    for s in statuses:
        health = "[green]ok[/]" if s.healthy else f"[red]{s.health[:60]}[/]"
        oldest = _num(s.oldest_seconds, " s")
        if (s.oldest_seconds or 0) > OUTBOX_STALE_SECONDS:
            oldest = f"[red]{oldest}[/]"
        letters = _num(s.dead_letters)
        if s.dead_letters:
            letters = f"[yellow]{letters}[/]"
        table.add_row(
            s.service, health, _num(s.lag), _num(s.backlog), oldest, letters, s.version or "-"
        )
    out.print(table)
    raise typer.Exit(code)


@app.command()
def alerts(json_out: JsonOption = False) -> None:
    """The alerts Prometheus evaluates now (make up MONITORING=1, or RUAM_PROMETHEUS_URL),
    each with its runbook entry. Exit code 1 while any fires; 3 when Prometheus does not
    answer."""

    async def work() -> list[dict[str, Any]]:
        async with services() as svc:
            return await firing_alerts(svc)

    found = run(work)
    code = EXIT_ATTENTION if any(a.get("state") == "firing" for a in found) else EXIT_OK
    if json_out:
        emit_json({"alerts": found})
        raise typer.Exit(code)
    if not found:
        out.print("[green]no alerts[/]")
        raise typer.Exit(code)
    table = Table(title=f"Alerts ({len(found)})", title_justify="left")
    for column in ("alert", "severity", "state", "since", "summary", "runbook"):
        table.add_column(column, overflow="fold")
    for alert in found:
        labels, notes = alert["labels"], alert.get("annotations") or {}
        state = alert.get("state", "")
        table.add_row(
            labels["alertname"],
            labels.get("severity", ""),
            f"[red]{state}[/]" if state == "firing" else state,
            str(alert.get("activeAt", ""))[:19],
            notes.get("summary", ""),
            notes.get("runbook", ""),
        )
    out.print(table)
    raise typer.Exit(code)


# --------------------------------------------------------------------------- dead letters


def _letter_services(svc: Services, service: str | None) -> list[str]:
    names = svc.addresses.bus_services
    if service is None:
        return names
    if service not in names:
        raise Failure(EXIT_USAGE, f"{service} keeps no dead letters; one of {', '.join(names)}")
    return [service]


async def _all_letters(svc: Services, names: list[str], limit: int) -> list[dict[str, Any]]:
    """Every service's letters, newest first, up to `limit` from each."""
    letters: list[dict[str, Any]] = []
    for name in names:
        offset = 0
        while offset < limit:
            size = min(100, limit - offset)
            page = await svc.json("GET", name, "/v1/dlq", params={"limit": size, "offset": offset})
            items = page["items"]
            letters += [{**item, "service": item.get("service") or name} for item in items]
            if len(items) < size:
                break
            offset += size
    return letters


@dlq_app.command("list")
def dlq_list(
    service: Annotated[str | None, typer.Option(help="Only this service's letters.")] = None,
    waiting: Annotated[bool, typer.Option(help="Only letters never replayed.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many per service.")] = 500,
    json_out: JsonOption = False,
) -> None:
    """Dead letters, without their bodies. Exit code 1 when some were never replayed."""

    async def work() -> list[dict[str, Any]]:
        async with services() as svc:
            return await _all_letters(svc, _letter_services(svc, service), limit)

    letters = run(work)
    if waiting:
        letters = [letter for letter in letters if not letter.get("replays")]
    code = EXIT_ATTENTION if any(not letter.get("replays") for letter in letters) else EXIT_OK
    if json_out:
        emit_json({"items": letters})
        raise typer.Exit(code)
    table = Table(title=f"Dead letters ({len(letters)})", title_justify="left")
    for column in ("service", "id", "from", "reason", "failed at", "replays"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        table.add_row(
            letter.get("service") or "",
            letter["id"],
            letter.get("source_topic") or "",
            letter.get("reason") or "",
            str(letter.get("failed_at") or letter.get("stored_at") or ""),
            str(len(letter.get("replays") or [])),
        )
    out.print(table)
    raise typer.Exit(code)


async def _find_letter(svc: Services, letter_id: str, service: str | None) -> tuple[str, Any]:
    """(service, letter) of the first service that keeps it."""
    for name in _letter_services(svc, service):
        response = await svc.call("GET", name, f"/v1/dlq/{letter_id}")
        if response.status_code == 404:
            continue
        if not response.is_success:
            raise failure_of(response, f"GET {name}/v1/dlq/{letter_id}")
        return name, response.json()
    raise Failure(EXIT_NOT_FOUND, f"no dead letter {letter_id}")


@dlq_app.command("show")
def dlq_show(
    letter_id: Annotated[str, typer.Argument(help="The letter's id (ruam dlq list).")],
    service: Annotated[str | None, typer.Option(help="The service that keeps it.")] = None,
    json_out: JsonOption = False,
) -> None:
    """One letter with its body. The read is recorded on the audit trail (bodies may hold
    personal data)."""

    async def work() -> tuple[str, Any]:
        async with services() as svc:
            return await _find_letter(svc, letter_id, service)

    name, letter = run(work)
    if json_out:
        emit_json({**letter, "service": letter.get("service") or name})
        return
    fields = [
        (key, letter.get(key))
        for key in (
            "service",
            "source_topic",
            "source_partition",
            "source_offset",
            "reason",
            "exception",
            "attempts",
            "failed_at",
            "stored_at",
            "replays",
        )
    ]
    lines = "\n".join(f"[bold]{k}[/]: {v if v not in (None, '') else '-'}" for k, v in fields)
    out.print(Panel(lines, title=f"dead letter {letter['id']}", title_align="left"))
    body = letter.get("body")
    if body is not None:
        out.print(_pretty_body(body, letter.get("encoding")))


def _pretty_body(body: str, encoding: str | None) -> str:
    if encoding == "utf-8":
        try:
            return json.dumps(json.loads(body), ensure_ascii=False, indent=2)
        except ValueError:
            return body
    return f"({encoding}) {body}"


@dlq_app.command("replay")
def dlq_replay(
    letter_id: Annotated[str | None, typer.Argument(help="The letter's id.")] = None,
    service: Annotated[str | None, typer.Option(help="The service that keeps it.")] = None,
    again: Annotated[bool, typer.Option(help="Replay a letter already replayed.")] = False,
    all_waiting: Annotated[
        bool, typer.Option("--all", help="Every letter never replayed (of --service, or all).")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Hand a letter's original bytes again to the subscription that refused it (after the
    fix). Exit code 5 when the service refuses it (still failing, or already replayed)."""
    if (letter_id is None) == (not all_waiting):
        err.print("ruam: give a letter id, or --all")
        raise typer.Exit(EXIT_USAGE)

    async def one(svc: Services, name: str, lid: str) -> dict[str, Any]:
        params = {"again": "true"} if again else {}
        response = await svc.call("POST", name, f"/v1/dlq/{lid}/replay", params=params)
        if response.is_success:
            return {"id": lid, "service": name, "replayed": True, **response.json()}
        failure = failure_of(response, f"replay {lid}")
        return {
            "id": lid,
            "service": name,
            "replayed": False,
            "error": str(failure),
            "code": failure.code,
        }

    async def work() -> list[dict[str, Any]]:
        async with services() as svc:
            if letter_id is not None:
                name, _ = await _find_letter(svc, letter_id, service)
                return [await one(svc, name, letter_id)]
            names = _letter_services(svc, service)
            todo = [
                letter
                for letter in await _all_letters(svc, names, 10_000)
                if not letter.get("replays")
            ]
            results = []
            with progress_bar() as bar:
                task = bar.add_task("replaying dead letters", total=len(todo))
                for letter in todo:
                    results.append(await one(svc, letter["service"], letter["id"]))
                    bar.advance(task)
            return results

    results = run(work)
    refused = [r for r in results if not r["replayed"]]
    code = max((r["code"] for r in refused), default=EXIT_OK)
    if json_out:
        emit_json({"items": results})
        raise typer.Exit(code)
    for r in results:
        if r["replayed"]:
            out.print(f"[green]replayed[/] {r['id']} ({r['service']}) to {r.get('to')}")
        else:
            out.print(f"[red]refused[/] {r['error']}")
    if all_waiting:
        out.print(f"{len(results) - len(refused)} replayed, {len(refused)} refused")
    raise typer.Exit(code)


# --------------------------------------------------------------------------- cases


@case_app.command("show")
def case_show(
    case_id: Annotated[str, typer.Argument(help="The case number, SPT-2569-000123.")],
    json_out: JsonOption = False,
) -> None:
    """A case's timeline: every step from receipt to closing, the filed older ones too.
    Read as the auditor by default, who sees every case and no personal data (--as)."""

    async def work() -> dict[str, Any]:
        async with services("auditor") as svc:
            case: dict[str, Any] = await svc.json("GET", "routing", f"/v1/cases/{case_id}")
            filed = int((case.get("filed") or {}).get("timeline", 0))
            size = int(case.get("filed_chunk_size") or 50)
            chunks = filed // size if filed else 0
            older: list[dict[str, Any]] = []
            if chunks:
                with progress_bar() as bar:
                    task = bar.add_task("filed timeline", total=chunks)
                    for chunk in range(chunks):
                        path = f"/v1/cases/{case_id}/history/timeline/{chunk}"
                        older += (await svc.json("GET", "routing", path))["entries"]
                        bar.advance(task)
            case["timeline"] = older + list(case.get("timeline") or [])
            return case

    case = run(work)
    if json_out:
        emit_json(case)
        return
    dept = case.get("department_name") or {}
    officer = case.get("officer") or {}
    head = [
        f"[bold]{case['case_id']}[/]  {case.get('status')}  {case.get('kind') or ''}",
        f"channel {case.get('channel')}, received {case.get('received_at')}",
        f"department {case.get('department') or '-'} {dept.get('en') or ''}, "
        f"officer {officer.get('id') or '-'}",
        f"reply due {case.get('respond_due_at') or '-'}"
        + ("  [red]OVERDUE[/]" if case.get("overdue") else "")
        + (
            f"  escalation level {case['escalation_level']}" if case.get("escalation_level") else ""
        ),
    ]
    out.print(Panel("\n".join(head), title="case", title_align="left"))
    table = Table(title="timeline", title_justify="left")
    for column in ("#", "at", "action", "status", "officer", "note"):
        table.add_column(column, overflow="fold")
    for entry in case["timeline"]:
        table.add_row(
            str(entry.get("seq", "")),
            str(entry.get("at", "")),
            entry.get("action") or "",
            entry.get("status") or "",
            entry.get("officer_id") or "",
            entry.get("note") or "",
        )
    out.print(table)


# --------------------------------------------------------------------------- directory


def _directory_file(path: Path | None, org: str | None) -> Path:
    from services.routing.adapters.directory_files import DEFAULT_ROOT

    org = org or os.environ.get("RUAM_ORG") or "sraphonthong"
    if path is not None and path.is_file():
        return path
    root = path or Path(os.environ.get("ROUTING_DIRECTORY_PATH") or DEFAULT_ROOT)
    return root / f"{org}.yaml"


def _check_directory(file: Path) -> dict[str, Any]:
    """What the file holds, or the Failure of why routing would refuse it."""
    import yaml
    from pydantic import ValidationError

    from services.routing.adapters.directory_files import load_directory

    try:
        directory = load_directory(file)
    except FileNotFoundError as exc:
        raise Failure(EXIT_NOT_FOUND, f"no directory file {file}") from exc
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise Failure(EXIT_ATTENTION, f"{file} would be refused:\n{problems}") from exc
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise Failure(EXIT_ATTENTION, f"{file} would be refused: {exc}") from exc
    return {
        "file": str(file),
        "org_id": directory.org_id,
        "name": directory.name_en,
        "departments": len(directory.departments),
        "officers": len(directory.officers),
        "officers_taking_cases": sum(
            1 for o in directory.officers if o.available and o.takes_cases
        ),
        "villages": len(directory.villages),
        "categories": len(directory.categories),
        "respond_days": directory.deadlines.respond_days,
    }


PathArgument = Annotated[
    Path | None,
    typer.Argument(help="The file, or its folder (default: ROUTING_DIRECTORY_PATH or shipped)."),
]
OrgOption = Annotated[str | None, typer.Option("--org", help="The organisation (RUAM_ORG).")]


@directory_app.command("check")
def directory_check(
    path: PathArgument = None, org: OrgOption = None, json_out: JsonOption = False
) -> None:
    """Validate a directory file as routing will: exit 1 with every problem if it would be
    refused (routing then keeps the last valid one)."""

    async def work() -> dict[str, Any]:
        return _check_directory(_directory_file(path, org))

    summary = run(work)
    if json_out:
        emit_json({**summary, "valid": True})
        return
    out.print(f"[green]valid[/] {summary['file']}")
    for key, value in summary.items():
        if key != "file":
            out.print(f"  {key}: {value}")


@directory_app.command("reload")
def directory_reload(
    path: PathArgument = None, org: OrgOption = None, json_out: JsonOption = False
) -> None:
    """Check the file, then have routing (on this host) read it again now.

    Routing re-reads a directory file when its modification time changes (looked at every
    ROUTING_DIRECTORY_CHECK_SECONDS, 3 s by default), without a restart; this marks the
    file changed and checks that routing still answers."""

    async def work() -> dict[str, Any]:
        file = _directory_file(path, org)
        summary = _check_directory(file)
        os.utime(file)
        async with services() as svc:
            health = await svc.call("GET", "routing", "/healthz", signed=False)
            if health.status_code != 200:
                raise Failure(EXIT_UNAVAILABLE, f"routing is not healthy: {health.status_code}")
        return summary

    summary = run(work)
    if json_out:
        emit_json({**summary, "reloaded": True})
        return
    out.print(
        f"[green]marked for reload[/] {summary['file']}: routing reads it within "
        f"{os.environ.get('ROUTING_DIRECTORY_CHECK_SECONDS', '3')} s"
    )


# --------------------------------------------------------------------------- rebuilds


@rebuild_app.command("satisfaction")
def rebuild_satisfaction(json_out: JsonOption = False) -> None:
    """Survey's exact recount of every satisfaction figure from the stored answers (safe
    while answers keep arriving; docs/survey-aggregates.md)."""

    async def work() -> dict[str, Any]:
        async with services() as svc:
            with err.status("survey is recounting every stored answer ..."):
                counts: dict[str, Any] = await svc.json(
                    "POST", "survey", "/v1/satisfaction/rebuild", timeout=600
                )
            return counts

    counts = run(work)
    if json_out:
        emit_json(counts)
        return
    out.print("[green]rebuilt[/] " + ", ".join(f"{k} {v}" for k, v in counts.items()))


# --------------------------------------------------------------------------- replay


@app.command("replay")
def replay(
    topic: Annotated[str, typer.Option(help="The topic, as shared/topics.py names it.")],
    start: Annotated[
        str, typer.Option("--from", help="An offset (every partition), or an ISO time with zone.")
    ],
    end: Annotated[
        str | None, typer.Option("--to", help="Where to stop (exclusive); default: the end now.")
    ] = None,
    partition: Annotated[
        list[int] | None, typer.Option(help="Only these partitions (repeatable).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the range; publish nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Feed a range of a topic again to its consumers: its records are published again to
    the same topic and partition (consumers are idempotent by event id)."""
    try:
        chosen = bus.topic_of(topic)
        first = bus.Position.parse(start)
        last = bus.Position.parse(end) if end is not None else None
    except ValueError as exc:
        err.print(f"ruam: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _profile_bootstrap()
    bar = progress_bar()
    task = bar.add_task(f"replaying {chosen.value}", total=None)

    def planned(ranges: list[bus.PartitionRange]) -> None:
        total = sum(r.count for r in ranges)
        if not (dry_run or yes or total == 0):
            described = ", ".join(f"p{r.partition} {r.start}..{r.end - 1}" for r in ranges)
            question = f"publish {total} records of {chosen.value} again ({described})?"
            if not sys.stdin.isatty():
                raise Failure(EXIT_USAGE, f"{question} Add --yes to publish without asking.")
            if not typer.confirm(question, err=True):
                raise Failure(EXIT_USAGE, "nothing replayed")
        bar.update(task, total=total)
        if not dry_run and total:
            bar.start()

    async def work() -> list[bus.PartitionRange]:
        try:
            return await bus.replay(
                bootstrap,
                chosen,
                first,
                last,
                partitions=partition or None,
                dry_run=dry_run,
                planned=planned,
                progress=lambda n: bar.advance(task, n),
            )
        except ValueError as exc:
            raise Failure(EXIT_NOT_FOUND, str(exc)) from exc
        except OSError as exc:
            raise Failure(EXIT_UNAVAILABLE, f"Kafka at {bootstrap}: {exc}") from exc
        finally:
            bar.stop()

    ranges = run(work)
    result = {
        "topic": chosen.value,
        "dry_run": dry_run,
        "ranges": [r.__dict__ | {"count": r.count} for r in ranges],
        "records": sum(r.count for r in ranges),
    }
    if json_out:
        emit_json(result)
        return
    verb = "would publish" if dry_run else "published"
    out.print(f"{verb} {result['records']} records of {chosen.value} again")
    for r in ranges:
        out.print(f"  partition {r.partition}: offsets {r.start}..{r.end - 1}")


def _profile_bootstrap() -> str:
    from deploy.local import stack

    return stack.get_profile(STATE.profile).kafka_bootstrap
