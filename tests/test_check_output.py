"""`check`'s status line, performance data and exit code, on results built by hand."""

from __future__ import annotations

from tenantboard.answers import State
from tenantboard.check_output import outage_summary_line, summary_line, worst_exit_code
from tenantboard.errors import ErrorKind
from tenantboard.tenant import Tenant
from tests.serve_helpers import failed, ok


def test_an_outage_of_only_muted_tenants_is_ok_as_the_exit_code_says() -> None:
    results = [failed(Tenant(f"Cust{n}"), ErrorKind.CONNECT) for n in range(3)]
    every_key = {result.tenant.key for result in results}
    assert outage_summary_line(results, 1.0) is not None  # unmuted: one UNKNOWN reason
    assert outage_summary_line(results, 1.0, every_key) is None
    line = summary_line(results, 1.0, every_key)
    assert line == (
        "TENANTBOARD OK - 3 tenants: 3 muted | "
        "ok=0 warning=0 critical=0 unknown=0 muted=3 time=1.000s"
    )
    assert worst_exit_code(results, every_key) == 0


def test_an_outage_beside_a_muted_tenant_counts_it_as_muted() -> None:
    down = [failed(Tenant(f"Cust{n}"), ErrorKind.CONNECT) for n in range(3)]
    suspended = ok(Tenant("Cust9"), State.Suspended)
    line = outage_summary_line([*down, suspended], 1.0, {suspended.tenant.key})
    assert line is not None and line.startswith("TENANTBOARD UNKNOWN - cannot reach SuperOffice")
    assert line.endswith("| ok=0 warning=0 critical=0 unknown=3 muted=1 time=1.000s")
    assert worst_exit_code([*down, suspended], {suspended.tenant.key}) == 3
