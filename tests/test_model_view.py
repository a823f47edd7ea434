"""The board model's view at fleet size (issue 22): the filter reads the texts the model
keeps with its rows, a plain view grows with an attached board's list without a pass over
every row, and a view is made without its lines' positions. Each must show exactly what a
pass over every row shows."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from tenantboard.answers import State
from tenantboard.connectivity import Outage
from tenantboard.errors import ErrorKind
from tenantboard.groups import group_sort_key
from tenantboard.rows import (
    FIELD_FILTERS,
    SCANS_BEFORE_POSITIONS,
    BoardModel,
    TenantRow,
    filter_terms,
    group_line_id,
)
from tenantboard.tenant import Tenant, make_tenant
from tests.conftest import make_board, settle_board
from tests.serve_helpers import FIXED_NOW, failed, ok

ENVS = ("online", "sod", "stage")
STATES = (State.Running, State.Suspended, State.OfflineMaintenance, State.Running)
FILTERS = (
    "",
    "7",
    "cust1",
    "suspended",
    "online4",
    "host:online3",
    "env:sod",
    "tag:gold",
    "tag:gold tag:blue",
    "1 env:stage host:online",
    "error",
    "not checked yet",
)


def fleet(count: int, *, start: int = 1) -> list[Tenant]:
    return [
        make_tenant(
            f"Cust{number}",
            ENVS[number % 3],
            f"Tenant {number}",
            ("gold",) if number % 4 == 0 else ("blue",) if number % 4 == 1 else (),
        )
        for number in range(start, start + count)
    ]


def reference(model: BoardModel) -> list[str]:
    """The keys the view shows, by a pass over every row as the board made it before."""
    view = model.view
    needle, terms = filter_terms(view.filter_text)
    wanted: dict[str, list[str]] = {}
    for name, value in terms:
        wanted.setdefault(name, []).append(value)
    found = []
    for key in model.list_order:
        row: TenantRow = model.rows[key]
        if view.attention_only and not row.needs_attention:
            continue
        if needle and needle not in row.search_text:
            continue
        if all(any(FIELD_FILTERS[name](row, v) for v in values) for name, values in wanted.items()):
            found.append(key)
    return found


def assert_every_filter_as_a_pass_over_the_rows(model: BoardModel) -> None:
    for attention_only in (False, True):
        for text in FILTERS:
            model.view.filter_text, model.view.attention_only = text, attention_only
            model.recompute_view()
            assert model.order == reference(model), (text, attention_only)
    model.view.filter_text, model.view.attention_only = "", False
    model.recompute_view()


def answered(tenants: list[Tenant], *, at: float, turn: int = 0) -> list:
    """Answers for the tenants, of several states and hosts, some failures."""
    results = []
    for number, tenant in enumerate(tenants):
        if (number + turn) % 11 == 0:
            results.append(failed(tenant, ErrorKind.CONNECT, at=at))
            continue
        host = f"online{(number + turn) % 5 + 1}.superoffice.com"
        results.append(
            ok(
                tenant,
                STATES[(number + turn) % len(STATES)],
                at=at,
                host=host,
            )
        )
    return results


def test_the_filter_shows_what_a_pass_over_every_row_shows_as_rows_change() -> None:
    tenants = fleet(120)
    model = BoardModel(tenants)
    assert_every_filter_as_a_pass_over_the_rows(model)  # nothing checked yet
    for result in answered(tenants, at=0):
        model.apply(result)
    assert_every_filter_as_a_pass_over_the_rows(model)
    model.view.filter_text = "suspended"
    model.recompute_view()
    for result in answered(tenants[:40], at=5, turn=1):  # states move after the filter
        model.apply(result)
    assert_every_filter_as_a_pass_over_the_rows(model)
    # Our own outage: failed rows read as their last known state (their bucket changes).
    since = FIXED_NOW - timedelta(seconds=1)
    for result in answered(tenants[40:80], at=10, turn=2):
        model.apply(result)
    assert model.outage_changed(Outage(since, "no network", tenants=5))
    assert_every_filter_as_a_pass_over_the_rows(model)


def test_the_filter_follows_the_list_growing_and_changing() -> None:
    tenants = fleet(60)
    model = BoardModel(tenants[:20])
    model.view.filter_text = "tenant"
    model.recompute_view()
    model.set_tenants(tenants[:40])  # the list grows at its end
    for result in answered(tenants[:40], at=0):
        model.apply(result)
    assert_every_filter_as_a_pass_over_the_rows(model)
    relabelled = [*tenants[:10], make_tenant("Cust11", "stage", "Renamed"), *tenants[11:60]]
    assert model.set_tenants(relabelled) == ()
    assert_every_filter_as_a_pass_over_the_rows(model)
    assert shown(model, "renamed") == ["stage:Cust11"]
    assert model.set_tenants(relabelled[5:]) == tuple(t.key for t in relabelled[:5])
    assert_every_filter_as_a_pass_over_the_rows(model)


def shown(model: BoardModel, text: str) -> list[str]:
    model.view.filter_text = text
    model.recompute_view()
    return model.order


def test_a_keystroke_in_the_filter_makes_no_rows_text_again(monkeypatch) -> None:
    """The texts are kept with the rows: a keystroke reads them, and a result makes its
    own row's again (once), whatever the filter says meanwhile."""
    tenants = fleet(50)
    model = BoardModel(tenants)
    for result in answered(tenants, at=0):
        model.apply(result)
    made: list[str] = []
    text_of = TenantRow.search_text.fget
    monkeypatch.setattr(
        TenantRow,
        "search_text",
        property(lambda row: (made.append(row.tenant.key), text_of(row))[1]),
    )
    assert shown(model, "7")
    assert len(made) == 50  # the first filter makes every row's
    made.clear()
    for text in ("7", "", "cust4", "4", "running"):
        shown(model, text)
    assert made == []
    model.apply(ok(tenants[3], State.Suspended, at=9))
    assert made == [tenants[3].key]
    assert tenants[3].key in shown(model, "suspended")


def test_a_growing_plain_view_is_the_view_made_again() -> None:
    tenants = fleet(30)
    model = BoardModel([])
    for end in (1, 7, 20, 30):
        model.set_tenants(tenants[:end])
        grown = (list(model.order), [model.index_of(t.key) for t in tenants])
        model.recompute_view()
        assert grown == (model.order, [model.index_of(t.key) for t in tenants])
        assert model.lines is model.order


@pytest.mark.parametrize("group_by", [None, "host", "tag"])
def test_lines_are_found_however_many_are_asked_for(group_by: str | None) -> None:
    tenants = fleet(40)
    model = BoardModel(tenants)
    for result in answered(tenants, at=0):
        model.apply(result)
    model.view.group_by = group_by
    model.view.filter_text = "1"
    model.recompute_view()
    first_lines = {}
    for index, line in enumerate(model.lines):
        first_lines.setdefault(line, index)
    asked = [*(t.key for t in tenants), group_line_id("online3.superoffice.com"), "online:Cust9"]
    for _ in range(SCANS_BEFORE_POSITIONS + 2):  # scanned, then from the positions
        assert [model.index_of(key) for key in asked] == [first_lines.get(key) for key in asked]
    for key in asked:
        every = [index for index, line in enumerate(model.lines) if line == key]
        assert model.indexes_of(key) == every


@pytest.mark.parametrize("group_by", [None, "tag"])
async def test_a_result_redraws_its_lines_on_screen_and_no_others(clock, group_by) -> None:
    """A batch of results redraws the lines on screen of the rows it changed (each of a
    tenant's lines under several tags) and their groups' header lines; a row off screen
    costs no line."""
    tenants = fleet(60)
    app = make_board(clock, tenants, group_by=group_by)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle_board(pilot, app)
        board, table, model = app.board, app.board.table, app.board.model
        drawn: list[int] = []
        refresh_line = table.refresh_line
        table.refresh_line = lambda y: drawn.append(y) or refresh_line(y)  # type: ignore[method-assign]
        on_screen = model.lines[: table.size.height - 1]
        shown_tenant = next(t for t in tenants if t.key in on_screen and t.tags)
        hidden_tenant = next(t for t in tenants if t.key not in on_screen)
        for tenant in (shown_tenant, hidden_tenant):
            board.session.apply([ok(tenant, State.Suspended, at=60)])
        expected = {
            index + 1
            for index, line in enumerate(on_screen)
            if line == shown_tenant.key
            or any(h.line_id == line for h in model.groups_of.get(shown_tenant.key, ()))
        }
        assert set(drawn) == expected
        assert len(expected) == (1 if group_by is None else 2 * len(shown_tenant.tags))


def test_grouped_lines_are_each_tenant_under_each_of_its_groups() -> None:
    """The grouped view, made in C where it can: each group's header line and under it
    its tenants in the view's order, each as :meth:`TenantRow.group_values` names them
    (some tenants with no host yet, no version, several tags or none)."""
    tenants = fleet(60)
    model = BoardModel(tenants)
    for result in answered(tenants[:45], at=FIXED_NOW.timestamp()):
        model.apply(result)
    for dimension in ("host", "env", "version", "tag"):
        model.view.group_by = dimension
        model.recompute_view()
        expected: dict[str, list[str]] = {}
        for key in model.list_order:
            for value in model.rows[key].group_values(dimension):
                expected.setdefault(value, []).append(key)
        found: dict[str, list[str]] = {}
        for line in model.lines:
            if line in model.headers:
                header = model.headers[line]
                found[header.value] = []
            else:
                found[header.value].append(line)
        assert found == expected, dimension
        # Each tenant once, where its first group shows it.
        tenant_lines = [line for line in model.lines if line not in model.headers]
        assert model.order == list(dict.fromkeys(tenant_lines))
        assert sorted(model.order) == sorted(model.list_order)


def test_the_counts_follow_the_list_when_tenants_leave_it() -> None:
    """The header's counts and the per-version counts are of the tenants listed: a tenant
    removed from the file (or a list changed in its middle) is no longer counted."""
    tenants = fleet(12)
    model = BoardModel(tenants)
    for result in answered(tenants, at=0):
        model.apply(result)
    kept = [tenant for number, tenant in enumerate(tenants) if number % 3]
    added = make_tenant("Cust99", "online", "New")
    model.set_tenants([added, *kept])
    rows = [model.rows[tenant.key] for tenant in (added, *kept)]
    assert model.counts == Counter(row.bucket for row in rows)
    assert model.versions == Counter(row.running_on for row in rows if row.running_on)
    assert sum(model.counts.values()) == model.total == len(kept) + 1


def grouped_afresh(model: BoardModel) -> list[tuple[str, list[str], Counter[str]]]:
    """The grouped view by a pass over every row: each group, its tenants shown (folded
    ones too) and their counts per bucket, in the order the board shows the groups."""
    dimension = model.view.group_by
    assert dimension is not None
    groups: dict[str, list[str]] = {}
    for key in reference(model):
        for value in model.rows[key].group_values(dimension):
            groups.setdefault(value, []).append(key)
    return [
        (value, keys, Counter(model.rows[key].bucket for key in keys))
        for value, keys in sorted(groups.items(), key=lambda item: group_sort_key(item[0]))
    ]


def assert_grouped_as_afresh(model: BoardModel, *texts: str) -> None:
    """The view as made afresh with each filter (the one set when none is given): none,
    one that lets every tenant through, one that lets few through."""
    for text in texts:
        model.view.filter_text = text
        assert_grouped_as_afresh(model)
    if texts:
        return
    model.recompute_view()
    expected = grouped_afresh(model)
    headers = [model.headers[line] for line in model.lines if line in model.headers]
    assert [(h.value, h.keys, h.counts) for h in headers] == expected
    lines = []
    for header in headers:
        lines += [header.line_id, *([] if header.collapsed else header.keys)]
    assert model.lines == lines


def test_the_grouped_view_is_the_view_made_afresh_as_tenants_move_between_groups() -> None:
    """The groups' tenants are kept from one view to the next, and a filter keeps those
    that pass of each: the view must be what a pass over every row makes, whatever moved
    meanwhile (a tenant to another host or version, grouped or not, shown or not, the
    list changed)."""
    tenants = fleet(90)
    model = BoardModel(tenants)
    for result in answered(tenants, at=0):
        model.apply(result)
    for dimension in ("host", "version", "tag", "env"):
        model.view.group_by = dimension
        for text in FILTERS:
            model.view.filter_text = text
            assert_grouped_as_afresh(model)
    model.view.group_by, model.view.filter_text = "host", ""
    assert_grouped_as_afresh(model)
    moves = iter(range(1, 100))
    for text in ("7", "nothing at all", ""):  # tenants move while a filter shows some, none
        model.view.filter_text = text
        model.recompute_view()
        for result in answered(tenants[:30], at=5, turn=next(moves)):
            model.apply(result)
        assert_grouped_as_afresh(model, "", "tenant", "1")
    for dimension in ("env", None):  # they move while grouped otherwise, or not grouped
        model.view.group_by = dimension
        model.recompute_view()
        for result in answered(tenants[30:60], at=10, turn=next(moves)):
            model.apply(result)
        model.view.group_by = "host"
        assert_grouped_as_afresh(model, "", "tenant")
    model.view.collapsed["host"] = {"online2.superoffice.com"}
    assert_grouped_as_afresh(model, "", "tenant")
    model.set_tenants([*tenants[5:80], *fleet(5, start=200)])  # the list changes
    for result in answered(tenants[40:50], at=15, turn=next(moves)):
        model.apply(result)
    assert_grouped_as_afresh(model, "", "tenant", "1")


def test_the_groups_counts_follow_results_between_two_views() -> None:
    """A header's counts, made when first drawn, follow its tenants' results; its uptime
    is the mean of its tenants' as last read."""
    tenants = fleet(40)
    model = BoardModel(tenants)
    for result in answered(tenants, at=0):
        model.apply(result)
    model.view.group_by = "host"
    model.recompute_view()
    headers = list(model.headers.values())
    drawn = headers[0].counts  # one header's counts made before the results
    for tenant in tenants:  # the same hosts, other states
        host = model.rows[tenant.key].host
        model.apply(ok(tenant, State.Suspended, at=5, host=host) if host else failed(tenant))
    assert not model.regroup_needed
    for header in headers:
        assert header.counts == Counter(model.rows[key].bucket for key in header.keys)
    assert headers[0].counts is drawn
    for number, key in enumerate(model.list_order):
        model.rows[key].uptime_24h = number / 100
    model.refresh_group_uptime()
    for header in headers:
        shares = [model.rows[key].uptime_24h for key in header.keys]
        assert header.uptime == pytest.approx(sum(shares) / len(shares))
