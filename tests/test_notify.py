"""Alert hooks: the [[notify]] tables, what is reported when, and delivery to real receivers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from aiohttp import web

from tenantboard.answers import State
from tenantboard.cli import main
from tenantboard.errors import ErrorKind
from tenantboard.notify import Deliverer, DeliveryError, Notifier
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import (
    NotifyHook,
    StoreError,
    TenantStore,
    parse_tenant_text,
    unsafe_for_commands,
)
from tests.serve_helpers import failed, idle_watcher, ok, with_notifier

A = Tenant("Cust1", "online", "Acme <!channel> & co")
B = Tenant("Cust2", "sod")


def parse_hooks(text: str) -> list[NotifyHook]:
    return parse_tenant_text(text, Path("tenants.toml")).notify


# -- the tenant file ---------------------------------------------------------------------------


def test_notify_tables_parse_with_defaults() -> None:
    hooks = parse_hooks(
        """
[[tenants]]
context_id = "Cust1"

[[notify]]
name = "ops"
url = "https://hooks.slack.com/services/T/B/secret"
on = ["worse", "better"]
failure_threshold = 3
send_on_resolved = false
group_seconds = 30
retries = 5
retry_backoff = 1.5
timeout = 4

[[notify]]
command = ["notify-send", "tenantboard"]
"""
    )
    assert hooks[0] == NotifyHook(
        name="ops",
        url="https://hooks.slack.com/services/T/B/secret",
        on=frozenset({"worse", "better"}),
        failure_threshold=3,
        send_on_resolved=False,
        group_seconds=30,
        retries=5,
        retry_backoff=1.5,
        timeout=4,
    )
    assert hooks[1].name == "notify-2"
    assert hooks[1].command == ("notify-send", "tenantboard")
    assert hooks[1].on == frozenset({"worse"}) and hooks[1].send_on_resolved
    assert hooks[0].target == "webhook https://hooks.slack.com/…"  # never the secret path


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ('url = "https://x.example"\ncommand = ["a"]', "either command"),
        ('name = "x"', "either command"),
        ('command = "notify-send"', "list of strings"),
        ("command = []", "list of strings"),
        ('url = "http://hooks.example.com/x"', "https"),
        ('url = "ftp://x.example"', "https"),
        ('url = "https://x.example"\non = ["sideways"]', "on must list"),
        ('url = "https://x.example"\non = []', "on must list"),
        ('url = "https://x.example"\nfailure_threshold = 0', "between 1 and 1000"),
        ('url = "https://x.example"\nfailure_threshold = 2.5', "whole number"),
        ('url = "https://x.example"\nretries = true', "whole number"),
        ('url = "https://x.example"\nsend_on_resolved = "yes"', "true or false"),
        ('url = "https://x.example"\ngroup_seconds = -1', "between 0 and 3600"),
        ('url = "https://x.example"\ncolour = "red"', "unknown key"),
        ('url = "https://x.example"\nname = "has space"', "name must be"),
    ],
)
def test_a_bad_notify_table_is_refused_with_its_line(table: str, reason: str) -> None:
    text = f'[[tenants]]\ncontext_id = "Cust1"\n\n[[notify]]\n{table}\n'
    with pytest.raises(StoreError) as caught:
        parse_hooks(text)
    assert reason in str(caught.value)
    assert caught.value.line == 4


def test_two_hooks_with_one_name_are_refused() -> None:
    text = '[[notify]]\nname = "a"\ncommand = ["x"]\n[[notify]]\nname = "a"\ncommand = ["y"]\n'
    with pytest.raises(StoreError, match="used twice"):
        parse_hooks(text)


def test_plain_http_is_allowed_to_loopback_only() -> None:
    assert parse_hooks('[[notify]]\nurl = "http://127.0.0.1:8080/hook"\n')[0].url


# -- command hooks only from a file nobody else can change -------------------------------------------

HOOKS_TEXT = (
    '[[tenants]]\ncontext_id = "Cust1"\n\n'
    '[[notify]]\nname = "pager"\ncommand = ["true"]\n\n'
    '[[notify]]\nname = "chat"\nurl = "https://hooks.example.com/x"\n'
)
NOBODY = 65534
as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root"
)


def hooks_file(folder: Path, mode: int = 0o644, folder_mode: int = 0o700) -> Path:
    folder.mkdir(exist_ok=True)
    folder.chmod(folder_mode)
    path = folder / "tenants.toml"
    path.write_text(HOOKS_TEXT, encoding="utf-8")
    path.chmod(mode)
    return path


def test_command_hooks_run_from_a_file_only_its_owner_can_change(tmp_path: Path) -> None:
    private = hooks_file(tmp_path / "private")
    assert unsafe_for_commands(private) is None
    loaded = TenantStore(private).load()
    assert [hook.name for hook in loaded.notify] == ["pager", "chat"]
    assert loaded.commands_refused is None
    sticky = hooks_file(tmp_path / "shared", folder_mode=0o1777)  # like /tmp
    assert unsafe_for_commands(sticky) is None


@pytest.mark.parametrize(
    ("mode", "folder_mode", "why", "fix"),
    [
        (0o666, 0o700, "other users can change {file} (mode 666)", "chmod go-w {file}"),
        (0o664, 0o700, "other users can change {file} (mode 664)", "chmod go-w {file}"),
        (
            0o644,
            0o777,
            "other users can change its folder {folder} (mode 777)",
            "chmod go-w {folder}",
        ),
        (
            0o644,
            0o770,
            "other users can change its folder {folder} (mode 770)",
            "chmod go-w {folder}",
        ),
    ],
)
def test_command_hooks_are_refused_from_a_file_others_can_change(
    tmp_path: Path, mode: int, folder_mode: int, why: str, fix: str
) -> None:
    path = hooks_file(tmp_path / "hooks", mode, folder_mode)
    names = {"file": path, "folder": path.parent}
    problem = unsafe_for_commands(path)
    assert problem is not None
    assert why.format(**names) in problem and problem.endswith(fix.format(**names))
    loaded = TenantStore(path).load()
    assert [hook.name for hook in loaded.notify] == ["chat"]  # webhooks are not affected
    assert loaded.commands_refused == f"[[notify]] command hooks not run (pager): {problem}"


@as_root
def test_command_hooks_are_refused_from_a_file_owned_by_another_user(
    tmp_path: Path, capsys
) -> None:
    """The reproduction: a tenant file owned by nobody, mode 666, and tenantboard run as
    root. notify-test says why and how to fix it, sends through the webhook only (here a
    loopback one nobody listens on) and exits non-zero."""
    path = hooks_file(tmp_path / "hooks", 0o666)
    os.chown(path, NOBODY, -1)
    problem = unsafe_for_commands(path)
    assert problem == (
        f"{path} is owned by nobody, not by root who runs tenantboard; fix: chown root {path}"
    )
    os.chown(path, 0, -1)
    path.chmod(0o644)
    os.chown(path.parent, NOBODY, -1)
    assert unsafe_for_commands(path) == (
        f"its folder {path.parent} is owned by nobody, who could swap the file; move the "
        "file to a folder of root's"
    )
    os.chown(path.parent, 0, -1)
    os.chown(path, NOBODY, -1)
    path.chmod(0o666)
    code = main(["notify-test", "--config", str(path), "--hook", "pager"])
    assert code == 1
    assert capsys.readouterr().out == (
        f"REFUSED: [[notify]] command hooks not run (pager): {problem}\n"
    )


async def test_serve_logs_refused_command_hooks_and_runs_them_once_the_file_is_fixed(
    tmp_path: Path, caplog
) -> None:
    path = hooks_file(tmp_path / "hooks", 0o644)
    store = TenantStore(path)
    tenant_list = store.load()
    watcher = idle_watcher([A], store=store, hooks=list(tenant_list.notify))
    notifier = watcher.session.notifier
    assert [runner.hook.name for runner in notifier.runners] == ["pager", "chat"]
    path.chmod(0o666)  # others can change it now: the command hook goes
    await watcher.session.look_at_file()
    assert f"command hooks not run (pager): other users can change {path}" in caplog.text
    assert [runner.hook.name for runner in notifier.runners] == ["chat"]
    path.chmod(0o644)  # the fix, and nothing else: the hook comes back
    await watcher.session.look_at_file()
    assert [runner.hook.name for runner in notifier.runners] == ["pager", "chat"]
    await notifier.aclose(grace=0)


# -- what is reported -----------------------------------------------------------------------------


class Recorder(Deliverer):
    """Keeps what would have been sent."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict] = []

    async def send(self, hook: NotifyHook, payload: dict) -> None:
        self.payloads.append(payload)


def hook(**fields) -> NotifyHook:
    fields.setdefault("group_seconds", 3600)  # grouped until drained: no timing in tests
    return NotifyHook(name="test", command=("true",), **fields)


def wired(tenants, hooks, **options):
    recorder = Recorder()
    watcher = idle_watcher(tenants, hooks=hooks)
    notifier = with_notifier(watcher, Notifier(hooks, deliverer=recorder, **options))
    return watcher, notifier, recorder


async def drained(notifier: Notifier) -> None:
    for runner in notifier.runners:
        await runner.drain()


async def test_the_first_state_is_the_baseline_and_a_change_for_the_worse_is_sent() -> None:
    watcher, notifier, recorder = wired([A, B], [hook()])
    watcher.record(ok(A))
    watcher.record(ok(B, State.Suspended))  # bad from the start: the baseline, not news
    await drained(notifier)
    assert recorder.payloads == []
    watcher.record(ok(A, State.OfflineMaintenance, at=60))
    await drained(notifier)
    [payload] = recorder.payloads
    [event] = payload["events"]
    assert (event["kind"], event["context_id"], event["from_state"], event["to_state"]) == (
        "worse",
        "Cust1",
        "Running",
        "OfflineMaintenance",
    )
    assert (event["from_severity"], event["to_severity"]) == ("ok", "warning")
    assert payload["counts"] == {"worse": 1, "better": 0, "resolved": 0, "correction": 0}
    # Slack must not read the label as a mention or a link.
    assert (
        "Acme &lt;!channel&gt; &amp; co (Cust1, online): Running → OfflineMaintenance"
        in payload["text"]
    )
    assert "<!channel>" not in payload["text"]
    assert notifier.counts[("test", "sent")] == 1


async def test_hostile_labels_and_states_are_inert_text_in_slack_and_teams() -> None:
    """What Slack's mrkdwn or Teams' Markdown would render (links, mentions, emphasis,
    code, headings) arrives as look-alike characters; the events keep the raw data."""
    hostile = Tenant("Cust9", "online", "[Reset password](http://evil.example/p) @here *URGENT*")
    watcher, notifier, recorder = wired([hostile], [hook()])
    watcher.record(ok(hostile))
    raw_state = "<!channel> _x_ ~y~ `z` # www.evil.com\x1b[31m"
    watcher.record(ok(hostile, None, raw=raw_state, at=60))
    await drained(notifier)
    [payload] = recorder.payloads
    assert payload["text"] == (
        "tenantboard: ? "
        "［Reset password］(http[:]//evil[.]example/p) ＠here ∗URGENT∗ (Cust9, online): "  # noqa: RUF001 (look-alikes)
        "Running → &lt;!channel&gt; ˍxˍ ∼y∼ ˋzˋ ＃ www[.]evil[.]com"  # noqa: RUF001 (look-alikes)
    )
    [event] = payload["events"]
    assert event["label"] == hostile.label  # the data stays as it is
    assert event["to_state"] == "<!channel> _x_ ~y~ `z` # www.evil.com"  # less the escape


def test_chat_text_leaves_ordinary_text_alone_and_defangs_hosts() -> None:
    from tenantboard.notify import chat_text

    assert chat_text("Adventure Works Ltd. 2") == "Adventure Works Ltd. 2"
    assert chat_text("Release_10.2.3") == "Releaseˍ10.2.3"
    assert chat_text("see superoffice.com/x or https://a.b") == (
        "see superoffice[.]com/x or https[:]//a[.]b"
    )
    assert chat_text("<@U123> &amp; <https://x.example|click>") == (
        "&lt;＠U123&gt; &amp;amp; &lt;https[:]//x[.]example|click&gt;"  # noqa: RUF001 (look-alikes)
    )


async def test_the_failure_threshold_needs_consecutive_bad_checks_and_resolved_follows() -> None:
    watcher, notifier, recorder = wired([A], [hook(failure_threshold=3)])
    watcher.record(ok(A))
    watcher.record(failed(A, at=1))
    watcher.record(failed(A, at=2))
    watcher.record(ok(A, at=3))  # a blip shorter than the threshold: nothing at all
    await drained(notifier)
    assert recorder.payloads == []
    for second in (4, 5, 6):
        watcher.record(failed(A, ErrorKind.UNAVAILABLE, at=second))
    await drained(notifier)
    [worse] = recorder.payloads
    assert worse["events"][0]["to_state"] == "check failed (unavailable)"
    assert worse["events"][0]["error"]["kind"] == "unavailable"
    watcher.record(failed(A, at=7))  # still bad: nothing new
    watcher.record(ok(A, at=8))
    await drained(notifier)
    [_, resolved] = recorder.payloads
    assert resolved["events"][0]["kind"] == "resolved"
    assert resolved["text"].startswith("tenantboard: ✔ resolved: Acme")


async def test_better_is_sent_only_when_asked_and_resolved_can_be_turned_off() -> None:
    quiet = hook(send_on_resolved=False)
    watcher, notifier, recorder = wired([A, B], [quiet])
    watcher.record(ok(A))
    watcher.record(ok(B, State.Provisioning))
    watcher.record(ok(A, State.Deleted, at=1))
    watcher.record(ok(A, at=2))
    watcher.record(ok(B, at=2))
    await drained(notifier)
    assert [event["kind"] for payload in recorder.payloads for event in payload["events"]] == [
        "worse"
    ]

    watcher, notifier, recorder = wired([B], [hook(on=frozenset({"better"}))])
    watcher.record(ok(B, State.Provisioning))
    watcher.record(ok(B, State.Running, at=1))
    await drained(notifier)
    [payload] = recorder.payloads
    assert payload["events"][0]["kind"] == "better"


async def test_many_changes_at_once_are_one_message() -> None:
    tenants = [Tenant(f"Cust{number}") for number in range(1, 51)]
    watcher, notifier, recorder = wired(tenants, [hook(on=frozenset({"worse", "better"}))])
    # Each on a host of its own: 45 of one host's tenants at once would be a host incident,
    # one message of its own (tests/test_incidents.py).
    hosts = {tenant.key: f"host{number}.example" for number, tenant in enumerate(tenants)}
    for tenant in tenants:
        watcher.record(ok(tenant, host=hosts[tenant.key]))
    for tenant in tenants[:45]:
        watcher.record(ok(tenant, State.Unknown, at=1, host=hosts[tenant.key]))
    await drained(notifier)
    [payload] = recorder.payloads
    assert payload["counts"]["worse"] == 45 and len(payload["events"]) == 45
    lines = payload["text"].splitlines()
    assert lines[0] == "tenantboard: 45 tenants changed (45 worse)"
    assert len(lines) == 1 + 20 + 1 and lines[-1] == "… and 25 more"


async def test_a_silenced_tenant_sends_nothing_and_is_counted() -> None:
    watcher, notifier, recorder = wired([A, B], [hook()], is_silenced=lambda key: key == A.key)
    watcher.record(ok(A))
    watcher.record(ok(B))
    watcher.record(ok(A, State.Suspended, at=1))
    watcher.record(ok(B, State.Suspended, at=1))
    watcher.record(ok(A, at=2))  # its worse was never sent: no "resolved" either
    await drained(notifier)
    [payload] = recorder.payloads
    assert [event["context_id"] for event in payload["events"]] == ["Cust2"]
    assert notifier.counts[("test", "silenced")] == 1


async def test_a_stuck_receiver_never_blocks_checks_and_the_queue_drops_the_excess() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    class Stuck(Deliverer):
        async def send(self, hook: NotifyHook, payload: dict) -> None:
            started.set()
            await release.wait()

    notifier = Notifier([hook()], deliverer=Stuck(), queue_limit=1)
    watcher = idle_watcher([A])
    with_notifier(watcher, notifier)
    [runner] = notifier.runners
    watcher.record(ok(A))
    watcher.record(ok(A, State.Suspended, at=1))
    runner._flush()
    await started.wait()  # the first message is being delivered, and hangs
    for second in range(2, 6):  # checks go on: recording never waits for the receiver
        watcher.record(ok(A, at=second))
        watcher.record(ok(A, State.Suspended, at=second))
        runner._flush()
    assert notifier.counts[("test", "dropped")] == 3  # one waits in the queue, 3 dropped
    release.set()
    await notifier.aclose()
    assert notifier.counts[("test", "sent")] == 2


async def test_only_the_poller_sends_and_the_other_can_take_over(tmp_path: Path) -> None:
    """A board and `serve` on one tenant file both see the change and decide; only the one
    allowed to send (the poller, which holds the file's lease) delivers, and when the other
    takes over it knows what was reported."""
    polling = [True, False]
    places = []
    for index in range(2):
        watcher = idle_watcher([A], hooks=[hook()])
        recorder = Recorder()
        notifier = Notifier([hook()], deliverer=recorder, may_send=lambda i=index: polling[i])
        places.append((watcher, with_notifier(watcher, notifier), recorder))
    for watcher, _, _ in places:
        watcher.record(ok(A))
        watcher.record(ok(A, State.Suspended, at=60))
    for _, notifier, _ in places:
        await drained(notifier)
    (_, first, first_sent), (watcher, second, second_sent) = places
    assert [len(first_sent.payloads), len(second_sent.payloads)] == [1, 0]
    await first.aclose()  # the board quits: the other takes the lease over
    polling[1] = True
    watcher.record(ok(A, at=120))
    await drained(second)
    [resolved] = second_sent.payloads
    assert resolved["events"][0]["kind"] == "resolved"  # it knew the change was reported
    await second.aclose()


# -- our own outage -------------------------------------------------------------------------------


class Checked:
    """A watcher with a real monitor on the fake clock and a mock network (see
    test_outage.py): the engine decides when it is our outage, as in `serve`."""

    def __init__(self, clock, tenants, hooks) -> None:
        import httpx

        from tenantboard.tenant_file import Settings
        from tests.test_outage import Network

        self.clock = clock
        self.network = Network(clock)
        self.recorder = Recorder()
        self.watcher = idle_watcher(
            tenants,
            settings=Settings(concurrency=1),  # one check at a time: the order is known
            transport=httpx.MockTransport(self.network.handle),
            clock=clock,
        )
        self.notifier = with_notifier(self.watcher, Notifier(hooks, deliverer=self.recorder))
        self.session = self.watcher.session
        self.client = self.session.client
        self.monitor = self.session.monitor

    def recheck_all(self) -> None:
        self.session.recheck(list(self.session.model.list_order))

    async def run_for(self, seconds: float, step: float = 0.5) -> None:
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            self.monitor.poke()
            for _ in range(30):
                await asyncio.sleep(0)

    def kinds(self) -> list[list[str]]:
        return [[event["kind"] for event in p["events"]] for p in self.recorder.payloads]


@pytest.fixture
async def checked(clock):
    made: list[Checked] = []

    async def start(tenants, hooks) -> Checked:
        world = Checked(clock, tenants, hooks)
        made.append(world)
        world.task = asyncio.create_task(world.monitor.run())
        await world.run_for(1)
        return world

    yield start
    for world in made:
        world.task.cancel()
        await asyncio.gather(world.task, return_exceptions=True)
        await world.notifier.aclose(grace=0)
        await world.client.aclose()


FLEET = [Tenant(f"Cust{number}", "online", f"Shop {number}") for number in range(1, 6)]


async def test_our_outage_sends_one_correction_and_never_a_false_resolved(checked) -> None:
    """failure_threshold = 1: the failures before the board could tell it was its own
    network went out; once it could, one correction follows, nothing while the outage
    lasts (no "resolved" from the rows' last known state), nothing when it is over."""
    import httpx

    world = await checked(FLEET, [hook(failure_threshold=1, group_seconds=0)])
    assert world.monitor.outage is None and world.recorder.payloads == []
    world.network.down = httpx.ConnectError
    world.recheck_all()
    await world.run_for(120)  # probes fail for two minutes
    outage = world.monitor.outage
    assert outage is not None
    assert world.kinds() == [["worse"], ["worse"], ["correction", "correction"]]
    correction = world.recorder.payloads[-1]
    assert correction["counts"] == {"worse": 0, "better": 0, "resolved": 0, "correction": 2}
    assert correction["text"] == (
        "tenantboard: correction: the failures reported for 2 tenants since 09:30 were "
        "tenantboard's own loss of the network, not the tenants'\n"
        "✔ Shop 1 (Cust1, online): last known state Running\n"
        "✔ Shop 2 (Cust2, online): last known state Running"
    )
    [event, _] = correction["events"]
    assert (event["from_state"], event["to_state"]) == ("check failed (connect)", "Running")
    assert (event["from_severity"], event["to_severity"]) == ("unknown", "ok")
    assert event["error"]["kind"] == "connect"
    world.network.down = None
    await world.run_for(120)  # a probe gets through; everyone is re-checked
    assert world.monitor.outage is None and outage.ended is not None
    assert all(row.state and row.error is None for row in world.watcher.model.rows.values())
    assert len(world.recorder.payloads) == 3  # nothing more: every tenant is as it was


async def test_failures_not_sent_yet_when_the_outage_is_declared_are_simply_dropped(
    checked,
) -> None:
    import httpx

    world = await checked(FLEET, [hook(failure_threshold=1)])  # grouped for an hour
    world.network.down = httpx.ConnectError
    world.recheck_all()
    await world.run_for(60)
    assert world.monitor.outage is not None
    world.network.down = None
    await world.run_for(60)
    assert world.monitor.outage is None
    await drained(world.notifier)
    assert world.recorder.payloads == []  # no worse, no correction, no resolved


async def test_resolved_needs_a_real_answer_that_is_ok() -> None:
    """A failure reported, then the tenant's row goes stale in our outage (it shows the
    last known Running): that is not "resolved"; the real Running afterwards is."""
    from dataclasses import replace

    watcher, notifier, recorder = wired([A], [hook()])
    watcher.record(ok(A))
    watcher.record(failed(A, ErrorKind.UNAVAILABLE, at=60))
    watcher.record(replace(failed(A, ErrorKind.CONNECT, at=120), during_outage=True))
    await drained(notifier)
    assert [[e["kind"] for e in p["events"]] for p in recorder.payloads] == [["worse"]]
    watcher.record(ok(A, at=180))
    await drained(notifier)
    [_, resolved] = recorder.payloads
    assert resolved["events"][0]["kind"] == "resolved"
    assert resolved["events"][0]["from_state"] == "check failed (unavailable)"


# -- delivery -------------------------------------------------------------------------------------------


@pytest.fixture
async def receiver():
    """A local webhook receiver: answers each request with the next status of ``statuses``
    (then 200), and keeps the bodies."""
    state = {"statuses": [], "bodies": [], "delay": 0.0}

    async def handle(request: web.Request) -> web.Response:
        state["bodies"].append(await request.json())
        if state["delay"]:
            await asyncio.sleep(state["delay"])
        status = state["statuses"].pop(0) if state["statuses"] else 200
        headers = {"Location": "https://elsewhere.example/"} if status == 302 else None
        return web.Response(status=status, text="x", headers=headers)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state["url"] = f"http://127.0.0.1:{port}/hook"
    yield state
    await runner.cleanup()


async def test_a_webhook_is_retried_until_it_takes_the_message(receiver) -> None:
    receiver["statuses"] = [500, 503]
    webhook = NotifyHook(
        name="chat", url=receiver["url"], retries=3, retry_backoff=0, group_seconds=3600
    )
    notifier = Notifier([webhook])
    watcher = idle_watcher([A])
    with_notifier(watcher, notifier)
    watcher.record(ok(A))
    watcher.record(ok(A, State.Suspended, at=1))
    await notifier.aclose()
    assert len(receiver["bodies"]) == 3
    body = receiver["bodies"][-1]
    assert body["text"].startswith("tenantboard: ✖ Acme")
    assert body["events"][0]["to_state"] == "Suspended"
    assert (notifier.counts[("chat", "sent")], notifier.counts[("chat", "failed")]) == (1, 0)


@pytest.mark.parametrize(
    ("statuses", "delay", "reason"),
    [([500, 500], 0.0, "HTTP 500"), ([302, 302], 0.0, "HTTP 302"), ([], 5.0, "no answer within")],
)
async def test_a_webhook_that_keeps_failing_is_given_up_and_counted(
    receiver, caplog, statuses, delay, reason
) -> None:
    receiver["statuses"], receiver["delay"] = statuses, delay
    webhook = NotifyHook(name="chat", url=receiver["url"], retries=1, retry_backoff=0, timeout=0.2)
    notifier = Notifier([webhook])
    [runner] = notifier.runners
    error = await runner.deliver({"text": "x", "events": []}, retries=webhook.retries)
    await notifier.aclose()
    assert reason in (error or "")
    assert notifier.counts[("chat", "failed")] == 1
    assert "gave up" in caplog.text and "/hook" not in caplog.text  # the URL's path stays secret


def writer_command(path: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        f"import sys; open({str(path)!r}, 'a').write(sys.stdin.read() + '\\n')",
    ]


async def test_a_command_gets_the_payload_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "hook.jsonl"
    command = NotifyHook(name="cmd", command=tuple(writer_command(out)), group_seconds=3600)
    notifier = Notifier([command])
    watcher = idle_watcher([A, B])
    with_notifier(watcher, notifier)
    watcher.record(ok(A))
    watcher.record(ok(B))
    watcher.record(failed(A, at=1))
    watcher.record(failed(B, at=1))
    await notifier.aclose()
    [line] = out.read_text().splitlines()
    payload = json.loads(line)
    assert payload["counts"]["worse"] == 2
    assert {event["context_id"] for event in payload["events"]} == {"Cust1", "Cust2"}


async def test_a_failing_command_is_retried_then_reported_with_what_it_said(caplog) -> None:
    script = "import sys; sys.stderr.write('no route to pager'); sys.exit(3)"
    command = NotifyHook(
        name="cmd", command=(sys.executable, "-c", script), retries=2, retry_backoff=0
    )
    notifier = Notifier([command])
    error = await notifier.runners[0].deliver({"events": []}, retries=2)
    await notifier.aclose()
    assert error == "the command exited with 3: no route to pager"
    assert caplog.text.count("failed: the command exited with 3") == 3
    assert notifier.counts[("cmd", "failed")] == 1


async def test_a_missing_command_is_a_delivery_error() -> None:
    with pytest.raises(DeliveryError, match="cannot run"):
        await Deliverer().send(NotifyHook(name="x", command=("/nonexistent/pager",)), {})


def test_notify_test_sends_a_sample_through_each_hook(tmp_path: Path, capsys) -> None:
    out = tmp_path / "hook.jsonl"
    config = tmp_path / "tenants.toml"
    config.write_text(
        f'[[notify]]\nname = "good"\ncommand = {json.dumps(writer_command(out))}\n\n'
        '[[notify]]\nname = "bad"\ncommand = ["false"]\n',
        encoding="utf-8",
    )
    code = main(["notify-test", "--config", str(config)])
    printed = capsys.readouterr().out.splitlines()
    assert code == 1
    assert printed == [
        f"good (command {sys.executable}): sent",
        "bad (command false): FAILED: the command exited with 1: no output",
    ]
    payload = json.loads(out.read_text())
    assert payload["test"] is True and "notify-test" in payload["text"]
    assert main(["notify-test", "--config", str(config), "--hook", "good"]) == 0
    assert main(["notify-test", "--config", str(config), "--hook", "nope"]) == 64


async def test_the_log_says_what_each_message_was_about_in_plain_words(caplog) -> None:
    """Not "about 1 tenants", nor "about 0 tenants" for a test or a host incident."""
    caplog.set_level("INFO", logger="tenantboard")
    notifier = Notifier([NotifyHook(name="cmd", command=(sys.executable, "-c", "pass"))])
    [runner] = notifier.runners
    for payload in (
        {"events": [{"context_id": "Cust1"}]},
        {"events": [{"context_id": "Cust1"}, {"context_id": "Cust2"}]},
        {"test": True, "events": []},
        {"incident": {"host": "online3"}, "events": []},
    ):
        assert await runner.deliver(payload, retries=0) is None
    await notifier.aclose()
    assert [m for m in caplog.messages if m.startswith("hook cmd: sent")] == [
        "hook cmd: sent a message about 1 tenant",
        "hook cmd: sent a message about 2 tenants",
        "hook cmd: sent the test message",
        "hook cmd: sent the message on a host incident",
    ]
