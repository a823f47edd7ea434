"""The add/edit tenant form and the confirmation for removing one (modal screens)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Label, Select, Static

from tenantboard.tenant import ENVIRONMENTS, Tenant, make_tenant
from tenantboard.tenant_file import StoreError


class ContextIdValidator(Validator):
    """The documented form (Cust + digits, any case), checked as the operator types."""

    def validate(self, value: str) -> ValidationResult:
        try:
            make_tenant(value or " ")
        except ValueError as exc:
            return self.failure(str(exc) if value.strip() else "a context id is required")
        return self.success()


class LabelValidator(Validator):
    def validate(self, value: str) -> ValidationResult:
        try:
            make_tenant("Cust1", None, value)
        except ValueError as exc:
            return self.failure(str(exc))
        return self.success()


def tag_words(text: str) -> tuple[str, ...]:
    """The tags typed in the form: words separated by spaces or commas."""
    return tuple(word for word in text.replace(",", " ").split() if word)


class TagsValidator(Validator):
    def validate(self, value: str) -> ValidationResult:
        try:
            make_tenant("Cust1", None, None, tag_words(value))
        except ValueError as exc:
            return self.failure(str(exc))
        return self.success()


class TenantForm(ModalScreen[Tenant | None]):
    """Add a tenant, or edit one; returns the tenant saved, or None when cancelled.

    The form saves before it closes (``save`` raises ValueError when the change is refused,
    StoreError when the file cannot be written): refused, it stays open with what was typed,
    the field at fault marked and focused and the reason under the fields."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel", priority=True),
        # Priority: Textual checks other bindings only once the focused field has declined
        # the key, after the keys typed behind it went to that field ("Cust7", Tab, "Acme"
        # typed fast, or pasted, put "Cust7Acme" in the context id).
        Binding("tab", "app.focus_next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
    ]

    def __init__(
        self,
        *,
        is_taken: Callable[[Tenant], bool],
        save: Callable[[Tenant], Awaitable[None]],
        tenant: Tenant | None = None,
    ) -> None:
        super().__init__()
        self.original = tenant
        self.is_taken = is_taken
        self.save = save
        #: Why the last save was refused, shown until a field changes.
        self.refused = ""

    def compose(self) -> ComposeResult:
        tenant = self.original
        title = "Edit tenant" if tenant else "Add a tenant"
        with Vertical(id="form"):
            yield Static(title, id="form-title", markup=False)
            yield Label("Context id (Cust followed by digits)", markup=False)
            yield Input(
                value=tenant.context_id if tenant else "",
                placeholder="Cust12345",
                id="context-id",
                validators=[ContextIdValidator()],
                validate_on=["changed", "submitted"],
                compact=True,
            )
            yield Label("Environment", markup=False)
            yield Select(
                [(env, env) for env in ENVIRONMENTS],
                value=tenant.env if tenant else "online",
                allow_blank=False,
                id="env",
                compact=True,
            )
            yield Label("Label (optional)", markup=False)
            yield Input(
                value=tenant.label if tenant else "",
                placeholder="Acme production",
                id="label",
                validators=[LabelValidator()],
                validate_on=["changed", "submitted"],
                compact=True,
            )
            yield Label("Tags (optional; group and filter by them: tag:acme)", markup=False)
            yield Input(
                value=" ".join(tenant.tags) if tenant else "",
                placeholder="acme gold",
                id="tags",
                validators=[TagsValidator()],
                validate_on=["changed", "submitted"],
                compact=True,
            )
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False  # no redraw twice a second over SSH
        self.query_one("#context-id", Input).focus()
        self._check()

    def on_key(self, event: events.Key) -> None:
        """Keys typed right after ``a`` arrive before the first field has focus: they go
        to that field instead of being lost."""
        if self.focused is None and event.is_printable and event.character:
            event.stop()
            self.query_one("#context-id", Input).insert_text_at_cursor(event.character)

    def _candidate(self) -> tuple[Tenant | None, str]:
        """The tenant the form describes now, or the reason it cannot be saved."""
        context_id = self.query_one("#context-id", Input).value
        env = self.query_one("#env", Select).value
        label = self.query_one("#label", Input).value
        tags = tag_words(self.query_one("#tags", Input).value)
        if not context_id.strip():
            return None, "a context id is required"
        try:
            tenant = make_tenant(context_id, str(env), label, tags)
        except ValueError as exc:
            return None, str(exc)
        if self._is_new_key(tenant) and self.is_taken(tenant):
            return None, f"{tenant.context_id} ({tenant.env}) is already in the list"
        return tenant, ""

    def _is_new_key(self, tenant: Tenant) -> bool:
        return self.original is None or tenant.key != self.original.key

    def _check(self) -> Tenant | None:
        tenant, problem = self._candidate()
        self.query_one("#form-error", Static).update(self.refused or problem)
        self.query_one("#save", Button).disabled = tenant is None or bool(self.refused)
        return tenant

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        if self.refused:  # the operator is fixing what was refused
            self.refused = ""
            self.query_one("#context-id", Input).remove_class("-invalid")
        self._check()

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        tenant = self._check()
        if tenant is None or self.refused:
            return
        if tenant == self.original:
            self.dismiss(None)  # nothing changed: nothing to save
            return
        self.query_one("#save", Button).disabled = True
        self.run_worker(self._save_tenant(tenant), group="save", exclusive=True)

    async def _save_tenant(self, tenant: Tenant) -> None:
        try:
            await self.save(tenant)
        except StoreError as exc:
            self._refuse(f"not saved: {exc}", None)
        except ValueError as exc:  # refused: listed meanwhile, or changed in the file
            taken = self._is_new_key(tenant) and "already in the list" in str(exc)
            self._refuse(f"not saved: {exc}", "#context-id" if taken else None)
        else:
            self.dismiss(tenant)

    def _refuse(self, reason: str, field: str | None) -> None:
        """Keep what was typed; say why under the fields, and mark the field at fault."""
        self.refused = reason
        self._check()
        if field is not None:
            self.query_one(field, Input).add_class("-invalid")
            self.query_one(field, Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; `y` or enter on Yes confirms, `n` or escape declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Yes, remove", variant="error", id="yes", compact=True)
                yield Button("No", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
