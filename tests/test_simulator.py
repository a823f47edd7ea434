from __future__ import annotations

import json

import httpx
import pytest

from tenantboard.answers import State
from tenantboard.client import TenantClient
from tenantboard.errors import ErrorKind
from tenantboard.simulator import DEMO_PROFILES, Simulator, SimulatorTransport, demo_tenants


class Timeline:
    def __init__(self) -> None:
        self.now = 1_772_443_800.0  # 2026-03-02 09:30 UTC

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
async def client(timeline: Timeline):
    simulator = Simulator(now=timeline, slow_delay=0)
    async with TenantClient(transport=SimulatorTransport(simulator)) as client:
        yield client


async def test_every_documented_state_appears_over_the_scenario(client, timeline) -> None:
    seen: set[str] = set()
    for _ in range(0, 900, 15):
        for tenant in demo_tenants():
            try:
                answer = await client.fetch_state(tenant.context_id, tenant.env)
            except Exception:
                continue
            seen.add(answer.state.state_name)
        timeline.now += 15
    assert {state.name for state in State} <= seen
    assert "Hibernating" in seen  # and one unrecognised state


async def test_endpoints_move_between_hosts(client, timeline) -> None:
    hosts = set()
    for _ in range(20):
        answer = await client.fetch_state("Cust1002", "online")
        hosts.add(httpx.URL(answer.state.endpoint).host)
        timeline.now += 30
    assert len(hosts) == 2


async def test_valid_until_is_short_for_some_and_long_for_others(client, timeline) -> None:
    short = await client.fetch_state("Cust1005", "online")
    long = await client.fetch_state("Cust1009", "online")
    start = short.server_date
    assert (short.state.valid_until - start).total_seconds() <= 60
    assert (long.state.valid_until - start).total_seconds() >= 3600


async def test_discovery_host_answers_421_and_the_client_recovers(client) -> None:
    answer = await client.fetch_state("Cust1012", "online")
    assert httpx.URL(answer.state.api).host == "online.superoffice.com"
    version = await client.fetch_version(answer.state, "online")
    assert version.fresh_state is not None
    assert httpx.URL(version.url).host == httpx.URL(answer.state.endpoint).host
    assert version.info.netserver_version


async def test_hosts_without_a_number_are_not_misdirected(client) -> None:
    answer = await client.fetch_state("Cust1011", "online")
    assert httpx.URL(answer.state.endpoint).host == "app.superoffice.com"
    version = await client.fetch_version(answer.state, "online")
    assert version.fresh_state is None


@pytest.mark.parametrize(
    ("number", "kind"),
    [(1015, ErrorKind.NOT_JSON), (1017, ErrorKind.NOT_FOUND)],
)
async def test_failing_tenants(client, number: int, kind: ErrorKind) -> None:
    with pytest.raises(Exception) as caught:
        await client.fetch_state(f"Cust{number}", DEMO_PROFILES[number][1])
    assert caught.value.kind is kind


async def test_flaky_tenants_send_retry_after(client, timeline) -> None:
    kinds = set()
    for _ in range(12):
        try:
            await client.fetch_state("Cust1014", "online")
            kinds.add("ok")
        except Exception as exc:
            kinds.add(exc.kind)
            assert exc.retry_after == 45
        timeline.now += 15
    assert kinds == {"ok", ErrorKind.UNAVAILABLE}


def test_the_raw_answer_has_the_documented_format(timeline) -> None:
    response = Simulator(now=timeline).respond(
        "GET", "online.superoffice.com", "/api/state/Cust1001"
    )
    payload = json.loads(response.body)
    assert set(payload) >= {
        "ContextIdentifier",
        "Endpoint",
        "State",
        "IsRunning",
        "ValidUntil",
        "Api",
    }
    assert payload["ValidUntil"].endswith("Z") and len(payload["ValidUntil"].split(".")[1]) == 8


def test_beyond_the_tenant_count_tenants_are_unknown(timeline) -> None:
    simulator = Simulator(now=timeline, tenant_count=10)
    inside = json.loads(simulator.respond("GET", "sod.superoffice.com", "/api/state/Cust10").body)
    outside = json.loads(simulator.respond("GET", "sod.superoffice.com", "/api/state/Cust11").body)
    assert inside["State"] != "Unknown" or inside["IsRunning"] is False
    assert outside["State"] == "Unknown"


def test_unknown_paths_are_404(timeline) -> None:
    assert Simulator(now=timeline).respond("GET", "x", "/nope").status == 404
    assert Simulator(now=timeline).respond("POST", "x", "/api/state/Cust1").status == 405


def test_valid_until_is_written_the_apis_way_from_the_cached_second() -> None:
    from datetime import UTC, datetime

    from tenantboard.simulator.scenario import _valid_until, format_valid_until

    for moment in (1796234050.123456, 1796234050.0, 1796234050.9999996, 1796234051.5):
        assert _valid_until(moment) == format_valid_until(datetime.fromtimestamp(moment, UTC))


# -- setting a state by hand (the end-to-end alert tests turn a tenant Suspended and back) --


def state_of(simulator: Simulator, context_id: str) -> dict:
    return json.loads(
        simulator.respond("GET", "online.superoffice.com", f"/api/state/{context_id}").body
    )


def test_a_tenants_state_is_set_by_hand_and_cleared(timeline) -> None:
    simulator = Simulator(now=timeline)
    before = state_of(simulator, "Cust1001")
    assert (before["State"], before["IsRunning"]) == ("Running", True)
    assert simulator.respond("PUT", "x", "/_simulator/state/Cust1001/suspended").status == 204
    suspended = state_of(simulator, "Cust1001")
    assert (suspended["State"], suspended["IsRunning"]) == ("Suspended", False)
    assert suspended["ValidUntil"] == before["ValidUntil"]  # the profile's schedule is kept
    listed = simulator.respond("GET", "x", "/_simulator/state")
    assert json.loads(listed.body) == {"Cust1001": "Suspended"}
    # a faulty tenant answers cleanly while it is set; a word the API does not document too
    assert simulator.respond("PUT", "x", "/_simulator/state/Cust1017/Hibernating").status == 204
    assert state_of(simulator, "Cust1017")["State"] == "Hibernating"
    assert state_of(simulator, "Cust1017")["IsRunning"] is False
    assert simulator.respond("DELETE", "x", "/_simulator/state/Cust1001").status == 204
    assert state_of(simulator, "Cust1001") == before
    assert json.loads(simulator.respond("GET", "x", "/_simulator/state").body) == {
        "Cust1017": "Hibernating"
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/_simulator/state/Cust1001/<script>", 400),
        ("PUT", "/_simulator/state/Cust1001/Running%0AX", 400),
        ("PUT", "/_simulator/state/nobody/Suspended", 404),
        ("POST", "/_simulator/state/Cust1001/Suspended", 405),
        ("PUT", "/_simulator/state", 405),
        ("GET", "/_simulator/other", 404),
    ],
)
def test_a_bad_control_request_changes_nothing(timeline, method, path, status) -> None:
    simulator = Simulator(now=timeline)
    assert simulator.respond(method, "x", path).status == status
    assert simulator.overrides == {}


async def test_the_control_works_over_http_with_or_without_a_body(timeline) -> None:
    from tenantboard.simulator import serve

    simulator = Simulator(now=timeline)
    server = await serve(0, simulator=simulator)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.put("/_simulator/state/Cust1001/Suspended")).status_code == 204
            answer = await http.put("/_simulator/state/Cust1020/Deleted", content=b"ignored")
            assert answer.status_code == 204
            listed = (await http.get("/_simulator/state")).json()
            assert listed == {"Cust1001": "Suspended", "Cust1020": "Deleted"}
            state = await http.get(
                "/api/state/Cust1001", headers={"Host": "online.superoffice.com"}
            )
            assert state.json()["State"] == "Suspended"
            assert (await http.delete("/_simulator/state/Cust1001")).status_code == 204
            assert (await http.get("/_simulator/state")).json() == {"Cust1020": "Deleted"}
    finally:
        server.close()
        await server.wait_closed()
