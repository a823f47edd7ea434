"""One incident per host: detection, resolution, the one hook message, our own outage first,
the history and the report. Results are built by hand on the fake clock's timeline
(``at`` seconds after FIXED_NOW) and fed to a session that never runs (no network)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tenantboard.answers import State
from tenantboard.cli import main
from tenantboard.errors import ErrorKind
from tenantboard.eventlog import LoggedEvent
from tenantboard.history.db import HistoryDB
from tenantboard.notify import Notifier
from tenantboard.paths import history_path
from tenantboard.session_changes import EventsLogged, IncidentChanged, SessionChange
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import IncidentRules, NotifyHook, StoreError, parse_tenant_text
from tests.conftest import FIXED_NOW
from tests.serve_helpers import failed, idle_watcher, ok, with_notifier
from tests.test_notify import Recorder, drained, hook

ONLINE3 = "online3.superoffice.com"
ONLINE2 = "online2.superoffice.com"
#: Ten tenants on online3, four on online2.
ON3 = [Tenant(f"Cust{number}", "online", f"Three {number}") for number in range(1, 11)]
ON2 = [Tenant(f"Cust{number}", "online", f"Two {number}") for number in range(11, 15)]
FLEET = ON3 + ON2


def host_of(tenant: Tenant) -> str:
    return ONLINE3 if tenant in ON3 else ONLINE2


def fleet(tenants=FLEET, **options):
    """A session fed by hand, every tenant Running at t=0, and what it told since."""
    watcher = idle_watcher(tenants, **options)
    told: list[SessionChange] = []
    watcher.session.subscribe(told.append)
    for tenant in tenants:
        watcher.record(ok(tenant, host=host_of(tenant)))
    return watcher, told


def turn(watcher, tenants, state: State | None, at: float, step: float = 0) -> None:
    """The tenants' answers: ``state`` (None: Running), one every ``step`` seconds."""
    for index, tenant in enumerate(tenants):
        running = State.Running if state is None else state
        answer = ok(tenant, running, at=at + index * step, host=host_of(tenant))
        watcher.record(answer)


def incident_events(watcher) -> list[LoggedEvent]:
    return [event for event in watcher.session.event_log.events if event.kind == "incident"]


def told_events(told: list[SessionChange]) -> list[LoggedEvent]:
    return [event for change in told if isinstance(change, EventsLogged) for event in change.told]


# -- detection ------------------------------------------------------------------------------


def test_five_of_a_hosts_tenants_turning_bad_within_two_minutes_are_one_incident() -> None:
    watcher, told = fleet()
    turn(watcher, ON3[:4], State.Unknown, at=60, step=10)
    assert watcher.session.incidents.open == {}  # four are four tenants
    turn(watcher, ON3[4:5], State.Unknown, at=100)
    incident = watcher.session.incidents.open[ONLINE3]
    assert (incident.bad, incident.tenants, incident.state) == (5, 10, "Unknown")
    [event] = incident_events(watcher)
    assert (event.name, event.text) == (ONLINE3, "5 of 10 tenants Unknown since 09:31")
    assert event.worse and event.severity == "critical"
    # The fifth tenant's own change is its own (its row's history, the history database),
    # not the event log's or told: the incident's one event speaks for it.
    after = told_events(told)
    assert after[-1] == event
    assert not [e for e in after if e.key == ON3[4].key]
    assert not [e for e in watcher.session.event_log.events if e.key == ON3[4].key]
    row = watcher.model.rows[ON3[4].key]
    assert [e.text for e in row.history if e.kind == "state"] == ["Running", "Running → Unknown"]


def test_tenants_that_turn_bad_while_it_is_open_join_it_and_are_not_told() -> None:
    watcher, told = fleet()
    turn(watcher, ON3[:5], State.Unknown, at=60)
    before = len(told_events(told))
    turn(watcher, ON3[5:8], State.Suspended, at=400)  # minutes later, still the same incident
    incident = watcher.session.incidents.open[ONLINE3]
    assert (incident.bad, len(incident.members)) == (8, 8)
    assert len(told_events(told)) == before  # nothing told: no event, no notice
    assert len(incident_events(watcher)) == 1  # still one event
    changes = [c.what for c in told if isinstance(c, IncidentChanged)]
    assert changes == ["opened", "grew", "grew", "grew"]  # one a batch: each result here


@pytest.mark.parametrize(
    ("why", "bad", "at", "step"),
    [
        ("four tenants are four tenants", ON3[:4], 60, 1),
        ("five spread over more than two minutes", ON3[:5], 60, 40),
        ("five on two hosts", ON3[:3] + ON2[:2], 60, 1),
    ],
)
def test_what_is_not_a_host_incident(why: str, bad: list[Tenant], at: float, step: float) -> None:
    watcher, told = fleet()
    turn(watcher, bad, State.Unknown, at=at, step=step)
    assert watcher.session.incidents.open == {}, why
    assert incident_events(watcher) == []
    assert {e.key for e in told_events(told) if e.kind == "state"} == {t.key for t in bad}


def test_half_of_the_tenants_heard_from_must_be_bad() -> None:
    """Twenty tenants on one host, all answering in the same two minutes: five Unknown
    among them is a quarter of the host, five tenants' own trouble."""
    many = [Tenant(f"Cust{number}") for number in range(1, 21)]
    watcher = idle_watcher(many)
    for tenant in many:
        watcher.record(ok(tenant, host=ONLINE3))
    for index, tenant in enumerate(many):
        state = State.Unknown if index < 5 else State.Running
        watcher.record(ok(tenant, state, at=60 + index, host=ONLINE3))
    assert watcher.session.incidents.open == {}
    for index, tenant in enumerate(many[5:11]):  # six more: eleven of twenty, over half
        watcher.record(ok(tenant, State.Unknown, at=90 + index, host=ONLINE3))
    assert watcher.session.incidents.open[ONLINE3].bad == 11


def test_a_tenant_bad_from_its_first_check_is_where_it_stands_not_a_change() -> None:
    watcher = idle_watcher(ON3)
    for tenant in ON3:  # the board opens on a host full of long-suspended tenants
        watcher.record(ok(tenant, State.Suspended, host=ONLINE3))
    assert watcher.session.incidents.open == {}


def test_the_thresholds_come_from_the_tenant_file() -> None:
    rules = IncidentRules(min_tenants=3, min_share=0.2, within=30)
    watcher, _ = fleet(incidents=rules)
    turn(watcher, ON3[:3], State.Unknown, at=60, step=20)  # 40 s apart: outside 30 s
    assert watcher.session.incidents.open == {}
    turn(watcher, ON3[3:6], State.Unknown, at=200, step=5)
    assert watcher.session.incidents.open[ONLINE3].bad == 3
    off, _ = fleet(incidents=IncidentRules(enabled=False))
    turn(off, ON3, State.Unknown, at=60)
    assert off.session.incidents.open == {}


def test_the_incidents_table_is_validated_with_its_line() -> None:
    text = '[[tenants]]\ncontext_id = "Cust1"\n\n[incidents]\nmin_tenants = 4\nwithin = 5\n'
    with pytest.raises(StoreError) as caught:
        parse_tenant_text(text, Path("t.toml"))
    assert "within must be between 10 and 86400 seconds" in str(caught.value)
    assert caught.value.line == 6
    with pytest.raises(StoreError, match=r"unknown \[incidents\] key \"share\""):
        parse_tenant_text("[incidents]\nshare = 0.5\n", Path("t.toml"))
    with pytest.raises(
        StoreError, match=r"\[incidents\] key \"min_tenants\" must be a whole number"
    ):
        parse_tenant_text("[incidents]\nmin_tenants = 4.5\n", Path("t.toml"))
    parsed = parse_tenant_text("[incidents]\nmin_tenants = 10\nresolved_share = 0.9\n", Path("x"))
    assert parsed.incidents == IncidentRules(min_tenants=10, resolved_share=0.9)


# -- resolution -----------------------------------------------------------------------------


def test_it_is_resolved_once_most_of_its_tenants_are_back() -> None:
    watcher, told = fleet()
    turn(watcher, ON3[:6], State.Unknown, at=60)
    turn(watcher, ON3[:4], None, at=500)  # 4 of 6 back: two thirds is not most
    incident = watcher.session.incidents.open[ONLINE3]
    assert incident.back == 4
    turn(watcher, ON3[4:5], None, at=600)  # 5 of 6
    assert watcher.session.incidents.open == {}
    resolved, _ = incident_events(watcher)  # newest first
    assert resolved.text == "resolved, 5 of 6 tenants back (09:31-09:40, 9m)"
    assert (resolved.severity, resolved.worse) == ("ok", False)
    # The members' own recoveries are logged, not told: the incident's "resolved" tells them.
    recovered = {e.key for e in told_events(told) if e.kind == "state" and "→ Running" in e.text}
    assert recovered == set()
    assert watcher.session.incidents.incident_of(ON3[0].key) is incident  # the detail pane's


def test_serve_logs_an_incident_opening_and_resolving_once_each(caplog) -> None:
    watcher, _ = fleet()
    with caplog.at_level(logging.INFO):
        turn(watcher, ON3[:6], State.Unknown, at=60)
        turn(watcher, ON3[:5], None, at=600)
    lines = [r.getMessage() for r in caplog.records if ONLINE3 in r.getMessage()]
    assert len([line for line in lines if "since 09:31" in line and "resolved" not in line]) == 1
    assert len([line for line in lines if "resolved, 5 of 6" in line]) == 1, lines


def test_an_incident_over_midnight_names_both_days_when_it_resolves() -> None:
    """ "(23:56-00:13, 16m)" read as if it ended before it began."""
    watcher, _ = fleet()
    turn(watcher, ON3[:6], State.Unknown, at=52_000)  # 23:56:40
    turn(watcher, ON3[:5], None, at=53_000)  # 00:13:20 the next day
    resolved, _ = incident_events(watcher)
    assert resolved.text == "resolved, 5 of 6 tenants back (Mar 02 23:56-Mar 03 00:13, 16m)"


def test_a_member_still_bad_when_it_is_resolved_is_on_its_own_again(tmp_path) -> None:
    watcher, told = fleet()
    turn(watcher, ON3[:5], State.Unknown, at=60)
    turn(watcher, ON3[:4], None, at=500)  # resolved: 4 of 5 back
    assert watcher.session.incidents.open == {}
    turn(watcher, ON3[4:5], State.Suspended, at=560)  # the one left: now its own news
    assert [e.text for e in told_events(told) if e.key == ON3[4].key] == ["Unknown → Suspended"]


# -- the alert hooks ------------------------------------------------------------------------


def hooked(**options):
    watcher, _ = fleet(**options)
    recorder = Recorder()
    notifier = with_notifier(watcher, Notifier([hook()], deliverer=recorder))
    for tenant in FLEET:  # the baseline, as the session's own notifier would have seen it
        notifier.observe(watcher.model.rows[tenant.key])
    return watcher, notifier, recorder


async def test_one_hook_message_in_place_of_the_tenants_own() -> None:
    watcher, notifier, recorder = hooked()
    turn(watcher, ON2[:1], State.Unknown, at=30)  # another host's own trouble: its own message
    turn(watcher, ON3[:4], State.Unknown, at=60, step=5)  # waiting to be sent, grouped...
    turn(watcher, ON3[4:5], State.Unknown, at=90)  # ...when the fifth makes it an incident
    turn(watcher, ON3[5:7], State.Unknown, at=120)  # members: held back
    await drained(notifier)
    incident_messages = [p for p in recorder.payloads if "incident" in p]
    assert len(incident_messages) == 1
    [message] = incident_messages
    assert message["text"] == (
        "tenantboard: host incident: online3[.]superoffice[.]com: 5 of 10 tenants Unknown "
        "since 09:31 (the tenants' own alerts are held back until it is resolved)"
    )
    assert message["incident"]["host"] == ONLINE3 and message["incident"]["status"] == "open"
    assert message["incident"]["member_keys"] == sorted(t.key for t in ON3[:5])
    others = [event for p in recorder.payloads for event in p["events"]]
    assert [event["context_id"] for event in others] == ["Cust11"]  # online2's, not online3's
    recorder.payloads.clear()
    turn(watcher, ON3[:7], None, at=600)  # all back: resolved, one message
    await drained(notifier)
    [resolved] = recorder.payloads  # resolved when 6 of its 7 are back: most of them
    assert resolved["text"] == (
        "tenantboard: online3[.]superoffice[.]com: resolved, 6 of 7 tenants back (09:31-09:40, 9m)"
    )
    assert resolved["events"] == [] and resolved["incident"]["status"] == "resolved"
    recorder.payloads.clear()
    turn(watcher, ON3[:1], State.Unknown, at=700)  # after it, a tenant's trouble is its own
    await drained(notifier)
    [own] = recorder.payloads
    assert [e["context_id"] for e in own["events"]] == ["Cust1"]


async def test_members_still_bad_when_it_resolves_are_alerted_on_their_own() -> None:
    watcher, notifier, recorder = hooked()
    turn(watcher, ON3[:5], State.Unknown, at=60)
    await drained(notifier)
    recorder.payloads.clear()
    turn(watcher, ON3[:4], None, at=500)  # resolved with one still Unknown...
    turn(watcher, ON3[4:5], State.Unknown, at=530)  # ...whose next check is its own news
    await drained(notifier)
    resolved, own = recorder.payloads
    assert resolved["incident"]["status"] == "resolved"
    assert [(e["kind"], e["context_id"]) for e in own["events"]] == [("worse", "Cust5")]


async def test_a_hook_without_resolved_gets_only_the_opening() -> None:
    watcher, _ = fleet()
    recorder = Recorder()
    quiet = NotifyHook(name="q", command=("true",), group_seconds=3600, send_on_resolved=False)
    notifier = with_notifier(watcher, Notifier([quiet], deliverer=recorder))
    for tenant in FLEET:
        notifier.observe(watcher.model.rows[tenant.key])
    turn(watcher, ON3[:5], State.Unknown, at=60)
    turn(watcher, ON3[:5], None, at=500)
    await drained(notifier)
    assert [p["incident"]["status"] for p in recorder.payloads] == ["open"]


# -- our own outage first -------------------------------------------------------------------


def test_our_own_outage_is_never_a_host_incident() -> None:
    """Results during our outage, and failures that got no answer at all (those before
    the outage was declared), say nothing about a host: no incident."""
    watcher, _ = fleet()
    for index, tenant in enumerate(ON3):  # the network goes: no answers, then the outage
        kind = (ErrorKind.CONNECT, ErrorKind.TIMEOUT, ErrorKind.DNS, ErrorKind.TLS)[index % 4]
        watcher.record(failed(tenant, kind, at=60 + index))
    for tenant in ON3:
        watcher.record(replace(failed(tenant, ErrorKind.UNAVAILABLE, at=90), during_outage=True))
    assert watcher.session.incidents.open == {}
    assert incident_events(watcher) == []
    # The same tenants failing with an answer (SuperOffice says 503 for them) is one.
    for index, tenant in enumerate(ON3[:6]):
        watcher.record(ok(tenant, host=ONLINE3, at=200 + index))
    for index, tenant in enumerate(ON3[:6]):
        watcher.record(failed(tenant, ErrorKind.UNAVAILABLE, at=300 + index))
    incident = watcher.session.incidents.open[ONLINE3]
    assert (incident.bad, incident.state) == (6, "failing checks")


def test_network_failures_neither_bring_a_member_back_nor_resolve_it() -> None:
    watcher, _ = fleet()
    turn(watcher, ON3[:6], State.Unknown, at=60)
    for tenant in ON3[:6]:
        watcher.record(failed(tenant, ErrorKind.CONNECT, at=300))
    assert watcher.session.incidents.open[ONLINE3].bad == 6


# -- the history, `history --host` and `report` -------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(
        "".join(f'[[tenants]]\ncontext_id = "{t.context_id}"\n\n' for t in FLEET),
        encoding="utf-8",
    )
    return path


def recorded_incident(config: Path) -> None:
    """An incident on online3 opened and resolved, written by the session's writer."""
    watcher, _ = fleet(history_path=history_path(config))
    turn(watcher, ON3[:6], State.Unknown, at=60, step=2)
    turn(watcher, ON3[6:7], State.Unknown, at=300)  # joins later
    turn(watcher, ON3[:7], None, at=900)
    writer = watcher.session.writer
    assert writer is not None and writer.flush(10)
    writer.close()


def test_the_history_keeps_each_incident_with_its_members(config: Path) -> None:
    recorded_incident(config)
    with HistoryDB.open(history_path(config), read_only=True) as db:
        [incident] = db.incidents(host=ONLINE3)
        assert (incident.members, incident.peak, incident.back, incident.tenants) == (7, 7, 6, 10)
        assert incident.resolved_at is not None and incident.seconds == 900 - 60
        assert db.incidents(key=ON3[6].key) == [incident]  # joined later: a member too
        assert db.incidents(key=ON3[8].key) == []
        assert db.incidents(host=ONLINE2) == []
        events = [e.text for e in db.events() if e.kind == "incident"]
        assert events == [
            "resolved, 6 of 7 tenants back (09:31-09:45, 14m)",
            "5 of 10 tenants Unknown since 09:31",
        ]


WINDOW = ["--from", "2026-03-02", "--to", "2026-03-02"]


def test_history_host_lists_the_hosts_incidents(config: Path, capsys) -> None:
    recorded_incident(config)
    code = main(["history", "--config", str(config), "--host", ONLINE3, *WINDOW])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == f"host incidents of {ONLINE3}"
    assert "2026-03-02 09:31  2026-03-02 09:45  14m  Unknown  7 of 10" in out
    main(["history", "--config", str(config), "--host", ONLINE2, *WINDOW])
    assert "(none recorded)" in capsys.readouterr().out
    main(["history", "--config", str(config), "--host", ONLINE3, "--json", *WINDOW])
    import json

    [found] = json.loads(capsys.readouterr().out)["host_incidents"]
    assert (found["host"], found["members"], found["seconds"]) == (ONLINE3, 7, 840)
    main(["history", "--config", str(config), "Cust3", *WINDOW])
    assert "host incidents it was part of (1)" in capsys.readouterr().out
    assert main(["history", "--config", str(config), "Cust3", "--host", ONLINE3]) == 64


def test_report_lists_the_incidents_of_the_period(config: Path, capsys) -> None:
    recorded_incident(config)
    assert main(["report", "--config", str(config), *WINDOW]) == 0
    out = capsys.readouterr().out
    assert "host incidents (1)" in out and ONLINE3 in out.split("host incidents (1)")[1]
    main(["report", "--config", str(config), "--json", *WINDOW])
    import json

    [found] = json.loads(capsys.readouterr().out)["host_incidents"]
    assert (found["host"], found["state"], found["peak"]) == (ONLINE3, "Unknown", 7)
    main(["report", "--config", str(config), "--from", "2026-03-03", "--to", "2026-03-03"])
    assert "host incidents" not in capsys.readouterr().out  # not in that period


# -- serve: /api/incidents, the event stream, /metrics ----------------------------------------


async def test_serve_lists_incidents_tells_them_on_the_event_stream_and_counts_them() -> None:
    import json

    from aiohttp.test_utils import TestClient, TestServer
    from prometheus_client.parser import text_string_to_metric_families

    from tenantboard.serve.metrics import render
    from tenantboard.serve.server import build_app
    from tests.test_serve import read_events

    watcher, _ = fleet()
    client = TestClient(TestServer(build_app(watcher)))
    await client.start_server()
    try:
        assert (await (await client.get("/api/incidents")).json())["incidents"] == []
        stream = await client.get("/api/events")
        turn(watcher, ON3[:5], State.Unknown, at=60)
        # Five results, four changes (the fifth is the incident's), its event, the incident.
        events = await read_events(stream, 11)
        incident_events_seen = [data for _, kind, data in events if kind == "incident"]
        assert [(e["host"], e["change"], e["bad"]) for e in incident_events_seen] == [
            (ONLINE3, "opened", 5)
        ]
        change = next(data for _, kind, data in events if data.get("kind") == "incident")
        assert (change["key"], change["name"], change["text"]) == (
            "",
            ONLINE3,
            "5 of 10 tenants Unknown since 09:31",
        )
        stream.close()
        listed = await (await client.get("/api/incidents")).json()
        assert listed["open"] == 1
        [found] = listed["incidents"]
        assert (found["id"], found["status"], found["tenants_on_host"]) == (
            f"{ONLINE3}@20260302T093100Z",
            "open",
            10,
        )
        assert found["member_keys"] == sorted(t.key for t in ON3[:5])
        body, _ = render(watcher)
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }
        assert samples[("tenantboard_host_incidents_open", ())] == 1
        assert samples[("tenantboard_host_incidents_total", ())] == 1
        assert samples[("tenantboard_host_incident_tenants", (("host", ONLINE3),))] == 5
        turn(watcher, ON3[:5], None, at=600)
        listed = json.loads(watcher.incidents_text())
        assert listed["open"] == 0 and listed["incidents"][0]["status"] == "resolved"
        body, _ = render(watcher)
        assert "tenantboard_host_incident_tenants{" not in body.decode()
        assert "tenantboard_host_incidents_total 1.0" in body.decode()
    finally:
        await client.close()


def test_metrics_name_each_tenant_of_an_open_incident_until_it_resolves() -> None:
    """``tenantboard_tenant_in_host_incident``: each member of an open incident (those the
    session holds back, back or not), which the shipped rules leave out of the tenants' own
    alerts; another host's bad tenant is on its own. Parsed back by prometheus_client in
    both formats."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    from tenantboard.serve.metrics import render
    from tests.test_metrics import scrape, tenant_labels

    watcher, _ = fleet()
    assert "tenantboard_tenant_in_host_incident" not in scrape(watcher)
    turn(watcher, ON3[:5], State.Unknown, at=60)
    turn(watcher, ON3[5:6], State.Suspended, at=400)  # joins it
    turn(watcher, ON3[:1], None, at=420)  # back, still a member while it is open
    turn(watcher, ON2[:1], State.Unknown, at=420)  # online2's own trouble
    members = {tenant_labels(tenant, host=ONLINE3): 1.0 for tenant in ON3[:6]}
    assert all(watcher.session.incidents.holds(tenant.key) for tenant in ON3[:6])
    assert scrape(watcher)["tenantboard_tenant_in_host_incident"] == members
    body, _ = render(watcher, "application/openmetrics-text; version=1.0.0")
    [family] = [
        family
        for family in text_string_to_metric_families(body.decode())
        if family.name == "tenantboard_tenant_in_host_incident"
    ]
    assert {tuple(sorted(s.labels.items())): s.value for s in family.samples} == members
    turn(watcher, ON3[:6], None, at=600)
    assert watcher.session.incidents.open == {}
    assert "tenantboard_tenant_in_host_incident" not in scrape(watcher)


def test_the_rules_are_read_again_when_the_tenant_file_changes(tmp_path: Path) -> None:
    import asyncio

    from tenantboard.session_changes import SettingsChanged
    from tests.test_session import a_file, session_on

    async def main() -> None:
        store = a_file(tmp_path)
        from tests.conftest import FakeClock

        session, told = session_on(store, FakeClock(), tmp_path, history_path=None)
        assert session.incidents.rules == IncidentRules()
        text = store.path.read_text() + "\n[incidents]\nmin_tenants = 12\n"
        store.path.write_text(text, encoding="utf-8")
        await session.look_at_file()
        assert session.incidents.rules == IncidentRules(min_tenants=12)
        [said] = [c for c in told if isinstance(c, SettingsChanged)]
        assert "[incidents]" in said.applied
        await session.aclose()

    asyncio.run(main())


def test_planned_work_in_a_maintenance_window_is_never_a_host_incident() -> None:
    """A window over online3 (the operator's): its tenants going down is planned work,
    not an incident; online2's tenants are outside it and still make one."""
    from tests.conftest import FakeClock

    text = (
        '[[maintenance]]\nname = "online3 work"\nstart = 2026-03-02T09:00:00\n'
        'end = 2026-03-02T11:00:00\ntime_zone = "UTC"\nhosts = ["online3"]\n'
    )
    plan = parse_tenant_text(text, Path("t.toml")).maintenance
    many2 = [Tenant(f"Cust{number}", "online", "Two") for number in range(20, 30)]
    watcher = idle_watcher(ON3 + many2, maintenance=plan, clock=FakeClock())
    for tenant in ON3:
        watcher.record(ok(tenant, host=ONLINE3))
    for tenant in many2:
        watcher.record(ok(tenant, host=ONLINE2))
    assert all(watcher.model.rows[t.key].window is not None for t in ON3)
    turn(watcher, ON3, State.Unknown, at=60)
    assert watcher.session.incidents.open == {}
    for index, tenant in enumerate(many2):
        watcher.record(ok(tenant, State.Unknown, at=70 + index, host=ONLINE2))
    assert list(watcher.session.incidents.open) == [ONLINE2]


def test_members_a_maintenance_window_takes_over_let_the_incident_resolve() -> None:
    """online3 fails; an operator's window then opens over the host: the members still
    down are planned work from then on, so the incident resolves and says so, and its alert
    (tenantboard_host_incident_tenants) stops."""
    from tests.conftest import FakeClock

    text = (
        '[[maintenance]]\nname = "online3 repair"\nstart = 2026-03-02T09:40:00\n'
        'end = 2026-03-02T11:00:00\ntime_zone = "UTC"\nhosts = ["online3"]\n'
    )
    plan = parse_tenant_text(text, Path("t.toml")).maintenance
    clock = FakeClock()  # 09:30
    watcher = idle_watcher(FLEET, maintenance=plan, clock=clock)
    for tenant in FLEET:
        watcher.record(ok(tenant, host=host_of(tenant)))
    turn(watcher, ON3[:6], State.Unknown, at=60)
    assert ONLINE3 in watcher.session.incidents.open
    clock.advance(660)  # 09:41: the window is open over online3
    turn(watcher, ON3[:6], State.Unknown, at=700)  # still down: planned now
    assert watcher.session.incidents.open == {}
    resolved, _ = incident_events(watcher)  # newest first
    # most of its tenants (5 of 6, at the 80% it takes) are planned work now
    assert resolved.text.startswith("resolved, 0 of 6 tenants back, 5 in a maintenance window")


# -- a new poller mid-incident --------------------------------------------------------------


@pytest.mark.parametrize("follower_saw_it", [True, False], ids=["seen-by-both", "seen-by-one"])
async def test_a_poller_that_takes_over_mid_incident_resolves_it_once(
    config: Path, clock, follower_saw_it: bool
) -> None:
    """Two processes on one tenant file: the poller opens an incident and ends mid-way;
    the other takes over, carries the recorded incident on (tenants that turn bad now
    join it, no second one opens) and resolves it in the history when most are back:
    one row, resolved; one alert about it from the new poller (the resolution)."""
    import asyncio

    from tenantboard.tenant_file import TenantStore

    options = {"store": TenantStore(config), "history_path": history_path(config), "clock": clock}
    first, _ = fleet(**options)
    assert first.session.lease.try_take(clock.wall())
    second, _ = fleet(**options)
    assert not second.session.lease.try_take(clock.wall())
    recorder = Recorder()
    notifier = with_notifier(
        second, Notifier([hook()], deliverer=recorder, may_send=lambda: second.session.polling)
    )
    for tenant in FLEET:
        notifier.observe(second.model.rows[tenant.key])
    turn(first, ON3[:6], State.Unknown, at=60, step=2)
    assert ONLINE3 in first.session.incidents.open
    if follower_saw_it:  # its own checks come a little later: its incident starts later
        turn(second, ON3[:6], State.Unknown, at=75, step=2)
        assert second.session.incidents.open[ONLINE3].since != moment(60)
    # The poller ends mid-incident (its writer writes what it holds, its lease goes).
    assert first.session.writer.flush(10)
    first.session.writer.close()
    first.session.lease.release()

    second.session.housekeeping()  # the next try for the lease: taken
    assert second.session.polling
    for _ in range(2000):  # it reads the open incidents from the history (a thread)
        adopted = second.session.incidents.open.get(ONLINE3)
        if adopted is not None and adopted.since == moment(60):
            break
        await asyncio.sleep(0.005)
    turn(second, ON3[6:7], State.Unknown, at=300)  # joins the incident, opens none
    assert len(second.session.incidents.open) == 1
    if not follower_saw_it:  # its first answers were where they stood; now they come back
        turn(second, ON3[:6], State.Unknown, at=320)
    turn(second, ON3[:7], None, at=900)
    assert second.session.incidents.open == {}
    await drained(notifier)
    writer = second.session.writer
    assert writer.flush(10)
    writer.close()
    second.session.lease.release()

    with HistoryDB.open(history_path(config), read_only=True) as db:
        [incident] = db.incidents(host=ONLINE3)
        assert incident.since == moment(60)
        assert incident.resolved_at == moment(900)
        assert incident.members == 7 and db.incidents(key=ON3[6].key) == [incident]
    messages = [p for p in recorder.payloads if "incident" in p]
    assert [m["incident"]["status"] for m in messages] == ["resolved"]


def moment(seconds: float) -> datetime:
    """``seconds`` after FIXED_NOW, where the tests' results are."""
    return FIXED_NOW + timedelta(seconds=seconds)
