"""The footer: the keys that work where the focus is, drawn as one line.

Textual's Footer recomposes itself (unmounts and mounts a widget per key, restyling each)
whenever the bindings change, which is every time the focus moves: opening the filter line
or closing it cost 35-40 ms of CPU on a 200-column screen, and a key typed in that moment
waited behind it. This bar looks the same (theme's footer colours, the palette key on the
right), and works the same for the mouse (a click presses the key), but a change of focus
only redraws one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import ActiveBinding, Binding
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input

from tenantboard.ui.textual_overrides import own_bindings


@dataclass(frozen=True, slots=True)
class KeyItem:
    action: str
    key: str
    shown_key: str
    description: str
    enabled: bool


#: Actions whose keys always show, however narrow the screen: the way out and the way to
#: every other key.
PINNED_ACTIONS = ("help", "app.quit", "quit")


class KeyBar(Widget, can_focus=False):
    """Shown bindings of the focus chain, one per action, and the palette key at the right.

    Help and quit are drawn at the right end and never dropped; the rest fill the left, in
    order, as far as the width allows.
    """

    COMPONENT_CLASSES = {
        "key-bar--key",
        "key-bar--description",
        "key-bar--separator",
        "key-bar--disabled",
    }

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._items: list[KeyItem] = []
        self._palette: KeyItem | None = None
        #: (start, end, key) of each item as last drawn, for clicks.
        self._spans: list[tuple[int, int, KeyItem]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        items, palette = self._active_items(screen)
        if (items, palette) != (self._items, self._palette):
            self._items, self._palette = items, palette
            self.refresh()

    def _active_items(self, screen: Screen) -> tuple[list[KeyItem], KeyItem | None]:
        active = screen.active_bindings
        items: dict[str, KeyItem] = {}
        from_app: set[str] = set()
        for namespace, binding, enabled, _tooltip in self._working(screen, active):
            action = binding.action.removeprefix("app.")
            # One key per action, the first; but the screen's own (q) before the app's
            # (ctrl+c, which shows where q does not: in the filter line).
            if binding.show and (action not in items or action in from_app):
                if action in items and namespace is self.app:
                    continue
                items[action] = self._item(binding, enabled)
                if namespace is self.app:
                    from_app.add(action)
                else:
                    from_app.discard(action)
        palette = None
        if self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                palette = self._item(found.binding, found.enabled)
        return list(items.values()), palette

    @staticmethod
    def _working(screen: Screen, active: dict[str, ActiveBinding]) -> list[ActiveBinding]:
        """The bindings a key press would run. The board's priority keys (enter, /, escape)
        step aside while a text field has the focus: there the field's own binding for
        the key is the one that works."""
        focused = screen.focused
        if not isinstance(focused, Input):
            return list(active.values())
        working = []
        for key, found in active.items():
            if found.binding.priority and found.node is screen:
                own = own_bindings(focused, key)
                working += [ActiveBinding(focused, binding, True, "") for binding in own]
            else:
                working.append(found)
        return working

    def _item(self, binding: Binding, enabled: bool) -> KeyItem:
        return KeyItem(
            binding.action,
            binding.key,
            self.app.get_key_display(binding),
            binding.description,
            enabled,
        )

    # -- drawing ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y != 0:
            return Strip.blank(width, base)
        key_style = base + self.get_component_rich_style("key-bar--key")
        text_style = base + self.get_component_rich_style("key-bar--description")
        disabled = self.get_component_rich_style("key-bar--disabled")
        palette_segments: list[Segment] = []
        if self._palette is not None:
            separator = base + self.get_component_rich_style("key-bar--separator")
            palette_segments = [
                Segment("▏", separator),
                Segment(self._palette.shown_key, key_style),
                Segment(f" {self._palette.description} ", text_style),
            ]
        pinned = [item for item in self._items if item.action in PINNED_ACTIONS]
        others = [item for item in self._items if item.action not in PINNED_ACTIONS]
        pinned_segments, pinned_size = self._item_segments(pinned, key_style, text_style, disabled)
        room = width - sum(cell_len(segment.text) for segment in palette_segments) - pinned_size
        segments: list[Segment] = []
        spans: list[tuple[int, int, KeyItem]] = []
        x = 0
        for item in others:
            item_segments, size = self._item_segments([item], key_style, text_style, disabled)
            if x + size > room:
                break
            segments.extend(item_segments)
            spans.append((x, x + size, item))
            x += size
        segments.append(Segment(" " * max(0, room - x), base))
        x = max(x, room)
        for item in pinned:
            size = self._item_size(item)
            spans.append((x, x + size, item))
            x += size
        segments.extend(pinned_segments)
        if self._palette is not None:
            spans.append((x, width, self._palette))
            segments.extend(palette_segments)
        self._spans = spans
        return Strip(segments).crop_extend(0, width, base)

    @staticmethod
    def _item_size(item: KeyItem) -> int:
        return cell_len(f" {item.shown_key} ") + cell_len(f"{item.description} ")

    def _item_segments(
        self, items: list[KeyItem], key_style: Style, text_style: Style, disabled: Style
    ) -> tuple[list[Segment], int]:
        segments: list[Segment] = []
        for item in items:
            for text, style in (
                (f" {item.shown_key} ", key_style),
                (f"{item.description} ", text_style),
            ):
                segments.append(Segment(text, style if item.enabled else style + disabled))
        return segments, sum(cell_len(segment.text) for segment in segments)

    # -- the mouse --------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        for start, end, item in self._spans:
            if start <= event.x < end:
                if item.enabled:
                    self.app.simulate_key(item.key)
                else:
                    self.app.bell()
                return
