"""The board's keys: each binding with its id (what [keys] in the tenant file remaps) and its
help text (``tooltip``). The help screen, the key bar, the command palette and docs/board.md's
key table (:func:`key_table_markdown`) all come from :data:`BOARD_BINDINGS`."""

from __future__ import annotations

from textual.binding import Binding

#: The keys that move between tenants (the table's own bindings), for help and docs/board.md.
MOVE_KEYS = ("↑ ↓ j k, PgUp PgDn, Home End", "move between tenants")
PALETTE_KEY = ("ctrl+p", "command palette: every action, and each tenant by name")


BOARD_BINDINGS: list[Binding] = [
    Binding(
        "r",
        "recheck",
        "Refresh",
        id="refresh",
        tooltip="refresh the selected tenant now, ahead of everything merely due",
    ),
    Binding(
        "R",
        "recheck_shown",
        "Refresh shown",
        id="refresh_all",
        tooltip="refresh every tenant shown (all of them unless a filter is on)",
    ),
    Binding(
        "ctrl+r",
        "recheck_list",
        "Refresh the whole list",
        id="refresh_list",
        show=False,
        tooltip="refresh every tenant in the list, shown or not",
    ),
    # Priority, like the table's cursor keys: answered as the key arrives, not after it
    # has bubbled through the DOM; the action leaves the key to a widget that wants it.
    Binding(
        "enter",
        "toggle_detail",
        "Details",
        id="toggle_detail",
        priority=True,
        tooltip="open or close the detail pane",
    ),
    Binding(
        "escape",
        "close_detail",
        "Close details",
        id="close_detail",
        show=False,
        # Priority, like / and enter: a key that goes the focus chain's way is handled a
        # turn or two later, so escape then / pressed in quick succession reached the filter
        # line the slash had opened, and cleared it (seen under load in make bench).
        priority=True,
        tooltip="close the detail pane, or clear a filter kept with enter",
    ),
    Binding(
        "a",
        "add_tenant",
        "Add",
        id="add_tenant",
        tooltip="add a tenant (saved to the tenant file at once)",
    ),
    Binding(
        "e",
        "edit_tenant",
        "Edit",
        id="edit_tenant",
        show=False,
        tooltip="edit the selected tenant",
    ),
    Binding(
        "delete,backspace",
        "remove_tenant",
        "Remove",
        id="remove_tenant",
        show=False,
        tooltip="remove the selected tenant (asks first)",
    ),
    # Priority, like enter: keys are forwarded to the focused widget as they arrive, so
    # without it the letters typed right after the slash reach the table, not the line.
    Binding(
        "slash",
        "filter",
        "Filter",
        id="filter",
        priority=True,
        tooltip=(
            "filter as you type: context id, label, environment, host, state or version; "
            "host:, tag:, env: or version: matches one field (escape clears)"
        ),
    ),
    Binding(
        "exclamation_mark",
        "attention",
        "Attention only",
        id="attention",
        show=False,
        tooltip="show only tenants that need attention, or every tenant again",
    ),
    Binding(
        "s",
        "cycle_sort",
        "Sort",
        id="cycle_sort",
        tooltip="sort: list order, worst first, name, environment, next check, uptime 24 h",
    ),
    Binding(
        "b",
        "group_by",
        "Group",
        id="group_by",
        tooltip="group the rows by endpoint host, environment, version or tag, or not at all: "
        "a header line per group with its counts, worst state and uptime (remembered)",
    ),
    Binding(
        "space",
        "toggle_group",
        "Fold group",
        id="toggle_group",
        show=False,
        tooltip="fold the group under the cursor to its header line, or unfold it (enter "
        "on a header line does it too)",
    ),
    Binding(
        "m",
        "mute",
        "Mute",
        id="mute",
        show=False,
        tooltip="mute the selected tenant for 1 h, 8 h, 24 h or until its state changes: "
        "no pop-up, bell or alert hook, and out of the attention filter",
    ),
    # A, not k: k moves up, as in vi and every pager.
    Binding(
        "A",
        "acknowledge",
        "Acknowledge",
        id="acknowledge",
        show=False,
        tooltip="acknowledge the selected tenant's problem: silenced until its state changes",
    ),
    Binding(
        "M",
        "list_marks",
        "Muted and acknowledged",
        id="list_marks",
        show=False,
        tooltip="list the muted and acknowledged tenants; choose one to clear it",
    ),
    Binding(
        "w",
        "start_window",
        "Maintenance",
        id="start_window",
        show=False,
        tooltip="start a maintenance window for the selected tenant, the shown ones, its host "
        "or every tenant, for 30 min to 8 h: their changes are planned (no pop-up, bell or "
        "alert hook, out of the attention filter)",
    ),
    Binding(
        "W",
        "list_windows",
        "Maintenance windows",
        id="list_windows",
        show=False,
        tooltip="list the maintenance windows open now; choose an ad hoc one to end it",
    ),
    Binding(
        "v",
        "versions",
        "Versions",
        id="versions",
        show=False,
        tooltip="versions: each release the tenants run, newest first, with its tenants, hosts "
        "and when it was first seen (a rollout as it goes); choose one to show only its tenants",
    ),
    Binding(
        "U",
        "toggle_uptime",
        "Up 24h column",
        id="toggle_uptime",
        show=False,
        tooltip="show or hide the Up 24h column (uptime over the last 24 hours; remembered)",
    ),
    Binding("l", "toggle_log", "Log", id="toggle_log", tooltip="show or hide the event log"),
    Binding(
        "n",
        "toggle_notices",
        "Notices",
        id="toggle_notices",
        show=False,
        tooltip="state-change pop-ups on or off (remembered; the change line always tells)",
    ),
    Binding(
        "x",
        "dismiss_notices",
        "Dismiss pop-ups",
        id="dismiss_notices",
        show=False,
        tooltip="dismiss the pop-up notifications, alerts too (a click dismisses one)",
    ),
    Binding(
        "c",
        "copy_context",
        "Copy id",
        id="copy_context",
        show=False,
        tooltip="copy the selected tenant's context id to the clipboard",
    ),
    Binding(
        "u",
        "copy_endpoint",
        "Copy URL",
        id="copy_endpoint",
        show=False,
        tooltip="copy the selected tenant's endpoint URL to the clipboard",
    ),
    Binding(
        "o",
        "open_endpoint",
        "Open",
        id="open_endpoint",
        show=False,
        tooltip="open the selected tenant's endpoint in a web browser",
    ),
    Binding("p", "toggle_pause", "Pause", id="toggle_pause", tooltip="pause or resume refreshing"),
    Binding(
        "t",
        "app.change_theme",
        "Theme",
        id="change_theme",
        show=False,
        tooltip="choose a theme (remembered)",
    ),
    Binding(
        "question_mark,f1",
        "help",
        "Help",
        id="help",
        tooltip="help: every key, and what each colour, glyph and mark means",
    ),
    Binding("q", "app.quit", "Quit", id="quit", tooltip="quit (ctrl+c quits too, anywhere)"),
]


def key_table_markdown(bindings: list[Binding] | None = None) -> str:
    """docs/board.md's key table, made from the same list as the help screen and the key bar."""
    lines = ["| key | action | binding id |", "| --- | --- | --- |"]
    lines.append(f"| {MOVE_KEYS[0]} | {MOVE_KEYS[1]} | |")
    for binding in bindings or BOARD_BINDINGS:
        assert isinstance(binding, Binding)
        keys = " ".join(f"`{_readme_key(key)}`" for key in binding.key.split(","))
        lines.append(f"| {keys} | {binding.tooltip or binding.description} | `{binding.id}` |")
    lines.append(f"| `{PALETTE_KEY[0]}` | {PALETTE_KEY[1]} | |")
    return "\n".join(lines)


_README_KEY_NAMES = {"slash": "/", "exclamation_mark": "!", "question_mark": "?"}


def _readme_key(key: str) -> str:
    return _README_KEY_NAMES.get(key, key)
