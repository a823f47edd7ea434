"""Groups: the host, environment, version and tags of a tenant; the filter line's
``host:`` and ``tag:``; the grouped view of the board's model; counts for /metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantboard.answers import State
from tenantboard.groups import (
    GroupTally,
    capped,
    group_values,
    memberships,
)
from tenantboard.rows import BoardModel, group_line_id
from tenantboard.tenant import Tenant, make_tenant
from tenantboard.tenant_file import StoreError, TenantStore
from tests.serve_helpers import failed, ok

ACME = make_tenant("Cust1", "online", "Acme Oslo", ("acme", "gold"))
GLOBEX = make_tenant("Cust2", "online", "Globex", ("globex",))
PLAIN = make_tenant("Cust3", "sod", "No tags")
STAGE = make_tenant("Cust4", "stage", "Acme test", ("acme",))


# -- tags -----------------------------------------------------------------------------------


def shown_by(model: BoardModel, text: str) -> list[str]:
    """The context ids the filter line's ``text`` shows."""
    model.view.filter_text = text
    model.recompute_view()
    return [model.rows[key].tenant.context_id for key in model.order]


def test_tags_are_kept_as_written_and_the_filter_finds_them_in_any_case() -> None:
    tenant = make_tenant("Cust1", tags=("Acme", "team:ops"))
    assert tenant.tags == ("Acme", "team:ops")
    model = BoardModel([tenant, GLOBEX])
    assert shown_by(model, "tag:acme") == ["Cust1"]
    assert shown_by(model, "tag:team:o") == ["Cust1"]  # the value is all after the first colon
    with pytest.raises(ValueError, match="is not 1-40 letters"):
        make_tenant("Cust1", tags=("two words",))


FILE = """\
# my fleet
[[tenants]]
context_id = "Cust1"
label = "Acme Oslo"
tags = ["acme", "gold"]   # the customer, and the support level

[[tenants]]
context_id = "Cust2"  # no tags yet
"""


def test_tags_in_the_tenant_file_are_read_and_written_back_with_comments_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(FILE, encoding="utf-8")
    store = TenantStore(path)
    first, second = store.load().tenants
    assert first.tags == ("acme", "gold") and second.tags == ()
    store.replace(second.key, make_tenant("Cust2", tags=("globex",)), expected=second)
    store.replace(first.key, make_tenant("Cust1", label="Acme Bergen", tags=("acme", "gold")))
    text = path.read_text(encoding="utf-8")
    assert "# the customer, and the support level" in text  # an unchanged line keeps it
    assert '# no tags yet\ntags = ["globex"]' in text
    assert [t.tags for t in store.load().tenants] == [("acme", "gold"), ("globex",)]
    store.replace(first.key, make_tenant("Cust1", label="Acme Bergen"))
    assert "tags" not in text.split("[[tenants]]")[1] or store.load().tenants[0].tags == ()
    store.add([make_tenant("Cust5", tags=("new", "gold"))])
    assert store.load().tenants[-1].tags == ("new", "gold")


def test_a_bad_tag_in_the_file_names_its_tenants_line(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text('# x\n\n[[tenants]]\ncontext_id = "Cust1"\ntags = "acme"\n', encoding="utf-8")
    with pytest.raises(StoreError) as caught:
        TenantStore(path).load()
    assert caught.value.line == 3 and "tags is a list of strings" in str(caught.value)


# -- groups and the filter line -------------------------------------------------------------


def test_a_tenant_is_in_one_group_of_each_dimension_and_one_per_tag() -> None:
    assert group_values("host", ACME, "online3.superoffice.com", None) == (
        "online3.superoffice.com",
    )
    assert group_values("host", ACME, "", None) == ("",)  # no host named yet
    assert group_values("env", STAGE, "", None) == ("stage",)
    assert group_values("version", ACME, "", "11.10") == ("11.10",)
    assert group_values("tag", ACME, "", None) == ("acme", "gold")
    assert group_values("tag", PLAIN, "", None) == ("",)
    assert ("tag", "gold") in memberships(ACME, "h", "v")


def test_the_filter_line_narrows_to_groups_with_free_text() -> None:
    model = grouped_model()  # Cust1 and Cust2 on online3, Cust3 on sod2, Cust4 not checked
    assert shown_by(model, "host:online3") == ["Cust1", "Cust2"]
    assert shown_by(model, "Tag:ACME") == ["Cust1", "Cust4"]
    assert shown_by(model, "tag:acme host:online3") == ["Cust1"]  # every kind given
    assert shown_by(model, "host:online3 host:sod") == ["Cust1", "Cust2", "Cust3"]  # either
    assert shown_by(model, "env:stage") == ["Cust4"]
    assert shown_by(model, "host:online3 globex") == ["Cust2"]  # with free text
    assert shown_by(model, "host:") == []  # typing: "host:" is free text, in no row yet
    model.apply(ok(PLAIN, host="sod2.superoffice.com", version="Release_11.10_2026.02.24-02"))
    assert shown_by(model, "version:11.10") == ["Cust3"]  # as releases.py matches it


# -- the grouped view ---------------------------------------------------------------------------


def grouped_model(dimension: str = "host") -> BoardModel:
    model = BoardModel([ACME, GLOBEX, PLAIN, STAGE])
    for tenant, host in (
        (ACME, "online3.superoffice.com"),
        (GLOBEX, "online3.superoffice.com"),
        (PLAIN, "sod2.superoffice.com"),
    ):
        model.apply(ok(tenant, host=host))
    model.view.group_by = dimension
    model.recompute_view()
    return model


def test_grouped_a_header_line_heads_each_group_and_counts_it() -> None:
    model = grouped_model()
    header = group_line_id
    assert model.lines == [
        header("online3.superoffice.com"),
        ACME.key,
        GLOBEX.key,
        header("sod2.superoffice.com"),
        PLAIN.key,
        header(""),  # not checked yet: no host named, last
        STAGE.key,
    ]
    assert model.order == [ACME.key, GLOBEX.key, PLAIN.key, STAGE.key]
    assert (len(model), model.shown) == (7, 4)
    assert model.row_at(0) is None and model.header_at(0).value == "online3.superoffice.com"
    assert model.index_of(PLAIN.key) == 4


def test_a_headers_counts_follow_results_between_recomputations() -> None:
    model = grouped_model()
    online3 = model.header_at(0)
    drawn = online3.revision
    model.apply(ok(GLOBEX, State.Unknown, at=60, host="online3.superoffice.com"))
    assert online3.revision != drawn  # redrawn
    assert online3.worst_bucket == "Unknown" and online3.counts["Running"] == 1
    assert not model.regroup_needed  # same host: same group
    model.apply(failed(ACME, at=70))
    assert online3.counts == {"Unknown": 1, "error": 1, "Running": 0}


def test_a_tenant_that_moves_host_makes_the_view_out_of_date() -> None:
    model = grouped_model()
    model.apply(ok(ACME, at=60, host="online4.superoffice.com"))
    assert model.regroup_needed
    model.recompute_view()
    assert not model.regroup_needed
    assert model.header_at(model.index_of(ACME.key) - 1).value == "online4.superoffice.com"


def test_a_folded_group_keeps_its_header_line_and_its_tenants_in_the_view() -> None:
    model = grouped_model()
    model.toggle_group(model.header_at(0))
    model.recompute_view()
    assert model.lines[:2] == [
        group_line_id("online3.superoffice.com"),
        group_line_id("sod2.superoffice.com"),
    ]
    assert model.header_at(0).collapsed and ACME.key in model.order
    assert model.index_of(ACME.key) is None  # no line of its own while folded
    model.toggle_group(model.header_at(0))
    model.recompute_view()
    assert model.index_of(ACME.key) == 1


def test_grouped_by_tag_a_tenant_shows_under_each_of_its_tags() -> None:
    model = grouped_model("tag")
    values = [model.headers[line].value for line in model.lines if line in model.headers]
    assert values == ["acme", "globex", "gold", ""]
    assert len(model.indexes_of(ACME.key)) == 2  # under acme and under gold
    assert model.order.count(ACME.key) == 1 and model.shown == 4


def test_the_filter_narrows_the_groups_too() -> None:
    model = grouped_model()
    model.view.filter_text = "tag:acme"
    model.recompute_view()
    assert model.order == [ACME.key, STAGE.key]
    assert [h.value for h in model.headers.values()] == ["online3.superoffice.com", ""]
    assert model.header_at(0).keys == [ACME.key]  # its count is of what is shown


def test_sorted_worst_first_the_worst_group_comes_first() -> None:
    model = grouped_model()
    model.apply(ok(PLAIN, State.Suspended, at=60, host="sod2.superoffice.com"))
    model.view.sort = "severity"
    model.recompute_view()
    assert model.header_at(0).value == "sod2.superoffice.com"


# -- counts for /metrics --------------------------------------------------------------------


def test_the_tally_counts_each_tenant_in_each_of_its_groups_once() -> None:
    tally = GroupTally()
    tally.update(ACME.key, memberships(ACME, "h3", "11.10"), "ok")
    tally.update(GLOBEX.key, memberships(GLOBEX, "h3", None), "critical")
    tally.update(ACME.key, memberships(ACME, "h3", "11.10"), "critical")  # changed severity
    counts = tally.snapshot()
    assert counts[("host", "h3", "critical")] == 2 and ("host", "h3", "ok") not in counts
    assert counts[("tag", "gold", "critical")] == 1 and counts[("version", "", "critical")] == 1
    tally.forget([ACME.key])
    assert ("tag", "gold", "critical") not in tally.snapshot()


def test_the_groups_a_metric_shows_are_bounded() -> None:
    counts = {("host", f"h{n}", "ok"): n for n in range(1, 6)}
    counts[("env", "online", "ok")] = 15
    kept = capped(counts, {"host": 2, "env": 5}, "other")
    assert kept == {
        ("host", "h5", "ok"): 5,
        ("host", "h4", "ok"): 4,
        ("host", "other", "ok"): 6,
        ("env", "online", "ok"): 15,
    }


def test_a_tenant_from_the_network_keeps_its_tags() -> None:
    from tenantboard.remote import tenant_from_row

    row = {"context_id": "Cust1", "env": "online", "label": "x", "tags": ["acme", "gold"]}
    assert tenant_from_row(row) == Tenant("Cust1", "online", "x", ("acme", "gold"))
    assert tenant_from_row({**row, "tags": ["bad tag"]}) is None


def test_metrics_count_tenants_per_group_and_severity() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tenantboard.serve.metrics import GROUP_LIMITS, render
    from tests.serve_helpers import idle_watcher

    watcher = idle_watcher([ACME, GLOBEX, PLAIN, STAGE])
    watcher.record(ok(ACME, host="online3.superoffice.com", version="Release_11.10"))
    watcher.record(ok(GLOBEX, State.Unknown, host="online3.superoffice.com"))
    watcher.record(failed(PLAIN))
    body, _ = render(watcher)
    found = {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "tenantboard_group_tenants"
    }

    def count(group_by: str, group: str, severity: str) -> float:
        labels = {"group_by": group_by, "group": group, "severity": severity}
        return found[tuple(sorted(labels.items()))]

    assert count("host", "online3.superoffice.com", "ok") == 1
    assert count("host", "online3.superoffice.com", "critical") == 1
    assert count("host", "online3.superoffice.com", "warning") == 0  # every severity is there
    assert count("host", "none", "unknown") == 1 and count("host", "none", "pending") == 1
    assert count("env", "online", "ok") == 1 and count("env", "stage", "pending") == 1
    assert not [labels for labels in found if ("group_by", "version") in labels]  # releases'
    assert count("tag", "acme", "ok") == 1 and count("tag", "acme", "pending") == 1
    assert count("tag", "gold", "ok") == 1 and count("tag", "none", "unknown") == 1
    assert GROUP_LIMITS == {"host": 100, "env": 10, "tag": 50}
    watcher.session.adopt_tenants([ACME, GLOBEX], source="file")  # removed: not counted
    body, _ = render(watcher)
    assert 'group="stage"' not in body.decode()
