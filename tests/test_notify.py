"""Alert hooks: the [[notify]] tables, what is reported when, and delivery to real receivers."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from aiohttp import web

from tenantboard.answers import State
from tenantboard.cli import main
from tenantboard.errors import ErrorKind
from tenantboard.notify import Deliverer, DeliveryError, Notifier
from tenantboard.tenant import Tenant
from tenantboard.tenant_file import NotifyHook, StoreError, parse_tenant_text
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
    assert payload["counts"] == {"worse": 1, "better": 0, "resolved": 0}
    # Slack must not read the label as a mention or a link.
    assert (
        "Acme &lt;!channel&gt; &amp; co (Cust1, online): Running → OfflineMaintenance"
        in payload["text"]
    )
    assert "<!channel>" not in payload["text"]
    assert notifier.counts[("test", "sent")] == 1


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
    for tenant in tenants:
        watcher.record(ok(tenant))
    for tenant in tenants[:45]:
        watcher.record(ok(tenant, State.Unknown, at=1))
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
