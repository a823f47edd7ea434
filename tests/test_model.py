from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantboard.answers import (
    ParseError,
    Severity,
    State,
    parse_state,
    parse_timestamp,
    parse_version,
)


def answer(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ContextIdentifier": "Cust12345",
        "Endpoint": "https://online3.superoffice.com/Cust12345",
        "State": "Running",
        "IsRunning": True,
        "ValidUntil": "2020-10-05T09:52:01.9342965Z",
        "Api": "https://online3.superoffice.com/Cust12345/api",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


def test_the_documented_example_parses() -> None:
    state = parse_state(answer(), "Cust12345")
    assert state.state is State.Running
    assert state.is_running is True
    assert state.endpoint == "https://online3.superoffice.com/Cust12345"
    assert state.valid_until == datetime(2020, 10, 5, 9, 52, 1, 934296, tzinfo=UTC)
    assert state.severity is Severity.OK


@pytest.mark.parametrize("state", list(State))
def test_every_state_by_name_and_by_number(state: State) -> None:
    by_name = parse_state(answer(State=state.name), "Cust12345")
    by_number = parse_state(answer(State=int(state)), "Cust12345")
    by_numeric_string = parse_state(answer(State=str(int(state))), "Cust12345")
    assert by_name.state is by_number.state is by_numeric_string.state is state
    assert by_name.state_code == int(state)


def test_state_names_are_case_insensitive() -> None:
    assert parse_state(answer(State="offlinemaintenance"), "Cust12345").state is (
        State.OfflineMaintenance
    )


@pytest.mark.parametrize("raw", ["Hibernating", 7, 9, 99, "", "Running "])
def test_unrecognised_state_is_kept_verbatim_not_coerced(raw: object) -> None:
    state = parse_state(answer(State=raw), "Cust12345")
    if raw == "Running ":  # surrounding blanks are not a new state
        assert state.state is State.Running
        return
    assert state.state is None
    assert state.state_raw == str(raw)
    assert state.severity is Severity.UNKNOWN


def test_severity_table_matches_the_exit_code_convention() -> None:
    assert {s for s in State if s.severity is Severity.OK} == {
        State.Running,
        State.OnlineMaintenance,
    }
    assert {s for s in State if s.severity is Severity.WARNING} == {
        State.Provisioning,
        State.OfflineMaintenance,
        State.Deleting,
        State.MigrationPending,
    }
    assert {s for s in State if s.severity is Severity.CRITICAL} == {
        State.Unknown,
        State.Suspended,
        State.Deleted,
        State.ProvisioningFailed,
        State.DeleteFailed,
    }
    assert [s.exit_code for s in Severity] == [0, 1, 3, 2]


def test_is_running_disagreeing_with_state_is_flagged() -> None:
    assert parse_state(answer(IsRunning=False), "Cust12345").running_mismatch
    assert parse_state(answer(State="Suspended", IsRunning=True), "Cust12345").running_mismatch
    assert not parse_state(answer(), "Cust12345").running_mismatch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-10-05T09:52:01.9342965Z", datetime(2020, 10, 5, 9, 52, 1, 934296, tzinfo=UTC)),
        ("2020-10-05T09:52:01Z", datetime(2020, 10, 5, 9, 52, 1, tzinfo=UTC)),
        ("2020-10-05T11:52:01.5+02:00", datetime(2020, 10, 5, 9, 52, 1, 500000, tzinfo=UTC)),
        ("2020-10-05T09:52:01.1234567", datetime(2020, 10, 5, 9, 52, 1, 123456, tzinfo=UTC)),
        ("not a time", None),
        ("", None),
    ],
)
def test_valid_until_formats(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_offset_is_converted_to_utc() -> None:
    parsed = parse_timestamp("2020-10-05T09:52:01-05:00")
    assert parsed == datetime(2020, 10, 5, 9, 52, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("missing", [..., None, ""])
def test_endpoint_and_api_may_be_missing_empty_or_null(missing: object) -> None:
    state = parse_state(answer(Endpoint=missing, Api=missing, State="Suspended"), "Cust12345")
    assert state.endpoint is None and state.api is None


def test_unknown_fields_are_ignored_and_version_is_kept() -> None:
    state = parse_state(
        answer(Surprise={"a": 1}, Version="Release_11.10_2026.02.24-02"), "Cust12345"
    )
    assert state.version == "Release_11.10_2026.02.24-02"


def test_unparseable_valid_until_is_kept_raw_not_fatal() -> None:
    state = parse_state(answer(ValidUntil="soon"), "Cust12345")
    assert state.valid_until is None and state.valid_until_raw == "soon"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "expected an object"),
        ("Running", "expected an object"),
        (answer(State=...), "no State"),
        (answer(State=True), "State is a boolean"),
        (answer(State=None), "State is null"),
        (answer(State=[2]), "State is an array"),
        (answer(IsRunning="yes"), "IsRunning is a string"),
        (answer(Endpoint=5), "Endpoint is a number"),
        (answer(ValidUntil=12), "ValidUntil is a number"),
        (answer(ContextIdentifier="Cust999"), "'Cust999', not Cust12345"),
    ],
)
def test_wrong_shapes_are_parse_errors_with_a_reason(payload: object, reason: str) -> None:
    with pytest.raises(ParseError, match=reason.replace("(", r"\(")):
        parse_state(payload, "Cust12345")


def test_context_id_comparison_ignores_case() -> None:
    assert parse_state(answer(ContextIdentifier="cust12345"), "Cust12345").state is State.Running


def test_control_characters_never_survive_parsing() -> None:
    state = parse_state(
        answer(State="Evil\x1b[31mRed\x07", Endpoint="https://x\x1b]0;t\x07/"), "Cust12345"
    )
    assert "\x1b" not in state.state_raw and "\x07" not in state.state_raw
    assert state.endpoint is not None and "\x1b" not in state.endpoint


DOC_EXAMPLE = {
    "v1": "https://sod.superoffice.com:443/Cust37911/api/v1/",
    "NetServerVersion": "9.1.7583.012",
    "NetServerAssembly": "9.1.0.0",
    "NetServerDate": "2020-10-05",
    "NetServerLabel": "Release9_C-2020.10.05-01",
    "NetServer": "SuperOffice 9.1 R3 NetServer 9.1 Release (Build: Release9_C-2020.10.05-01)",
    "Services": "Services87",
    "ServicesCurrent": "Services88",
    "Version": "v1",
}


def test_version_info_is_parsed_and_services_difference_noticed() -> None:
    info = parse_version(DOC_EXAMPLE)
    assert info.netserver_numbers == (9, 1, 7583, 12)
    assert info.build == "7583"
    assert info.label == "Release9_C-2020.10.05-01"
    assert info.date == "2020-10-05"
    assert info.services_differ
    assert info.extra == {}


def test_old_versions_keep_their_extra_keys_raw() -> None:
    info = parse_version({"NetServerLabel": "9729", "Services80": "x", "Weird": [1, 2]})
    assert info.label == "9729"
    assert info.services_current is None and not info.services_differ
    assert info.extra == {"Services80": "x", "Weird": "[1, 2]"}
    assert info.netserver_numbers == ()


def test_version_info_must_be_an_object() -> None:
    with pytest.raises(ParseError):
        parse_version(["v1"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
state_like = st.fixed_dictionaries(
    {},
    optional={
        "ContextIdentifier": st.one_of(st.just("Cust1"), json_values),
        "State": st.one_of(st.sampled_from([s.name for s in State]), st.integers(), json_values),
        "IsRunning": json_values,
        "ValidUntil": st.one_of(st.text(), json_values),
        "Endpoint": json_values,
        "Api": json_values,
        "Version": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, state_like))
def test_no_answer_makes_the_parser_raise_anything_but_parse_error(payload: object) -> None:
    with contextlib.suppress(ParseError):
        parse_state(payload, "Cust1")
    with contextlib.suppress(ParseError):
        parse_version(payload)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_no_body_bytes_make_the_client_decoder_raise_unexpectedly(body: bytes) -> None:
    import httpx

    from tenantboard.client import TenantClient
    from tenantboard.errors import CheckError

    response = httpx.Response(200, content=body)
    try:
        payload = TenantClient._decode(body, response)
        parse_state(payload, "Cust1")
    except (CheckError, ParseError):
        pass
