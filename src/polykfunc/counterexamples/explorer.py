"""`polykfunc explore`: a full-screen terminal explorer of the counterexample store (Textual).

On the left, the stored counterexamples as a tree (model > kfunc > counterexample, plus the
corrupted files, if any); on the right, the highlighted one as `cex show` prints it, or its
explanation as `cex explain` does. Keys: ``e`` explanation / summary, ``v`` fold / unfold the
state, ``n`` look for the next counterexample of the same obligation (the solver runs in a
worker thread; a new one is saved and selected), ``r`` replay on the current model, ``q`` quit.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Static, Tree

from polykfunc.errors import PolykfuncError, SpecError

from polykfunc.counterexamples import operations as cex_ops
from polykfunc.counterexamples.text import explain_lines, show_lines
from polykfunc.engine.solver import DEFAULT_RLIMIT
from polykfunc.counterexamples.store import Entry, Store, StoreError


class ExplorerApp(App):
    """Browse a counterexample store; every view is the text the `cex` commands print."""

    TITLE = "polykfunc explore"
    CSS = """
    #tree { width: 45%; min-width: 30; border-right: solid $accent; }
    #detail-scroll { width: 1fr; padding: 0 1; }
    """
    BINDINGS = [
        Binding("e", "toggle_explanation", "Explanation"),
        Binding("v", "toggle_state", "Fold/unfold state"),
        Binding("n", "next_counterexample", "Next counterexample"),
        Binding("r", "replay", "Replay"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, store: Store, rlimit: int = DEFAULT_RLIMIT):
        super().__init__()
        self.store = store
        self.rlimit = rlimit
        self.entries: dict[str, Entry] = {}
        self.bad: list[StoreError] = []
        self.current: Entry | None = None
        self.explaining = False   # the detail pane shows the explanation, not the summary
        self.unfolded = False     # the summary shows the whole state
        self.detail_lines: list[str] = []
        self.last_message = ""

    # -------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield Tree(Text(str(self.store.root)), id="tree")
            with VerticalScroll(id="detail-scroll"):
                yield Static(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self, select: str | None = None) -> None:
        """Read the store again and rebuild the tree; highlight ``select`` (an id) or the first entry."""
        good, self.bad = self.store.entries()
        chosen = cex_ops.select_entries(good)
        self.entries = {e.id: e for e in chosen}
        tree = self.query_one("#tree", Tree)
        tree.clear()
        tree.root.expand()
        target = first = None
        groups: dict[tuple[str, str], object] = {}
        models: dict[str, object] = {}
        for e in chosen:
            c = e.counterexample
            if e.model_name not in models:
                models[e.model_name] = tree.root.add(Text(f"{e.model_name} (kernel {c.kernel})"), expand=True)
            key = (e.model_name, c.kfunc or "-")
            if key not in groups:
                groups[key] = models[e.model_name].add(Text(c.kfunc or "-"), expand=True)  # type: ignore[attr-defined]
            leaf = groups[key].add_leaf(_leaf_label(e), data=e.id)  # type: ignore[attr-defined]
            first = first or leaf
            if e.id == select:
                target = leaf
        if self.bad:
            broken = tree.root.add(Text(f"corrupted files ({len(self.bad)})"), expand=True)
            for err in self.bad:
                broken.add_leaf(Text(str(err).split(": ", 1)[0]), data=("bad", str(err)))
        if not chosen and not self.bad:
            self._show_lines([f"no counterexamples stored in {self.store.root}",
                              f"`polykfunc prove --store {self.store.root}` saves them"])
        target = target or first
        if target is not None:
            self._select(target.data)
            # the tree numbers its lines when it next renders: move the cursor after that
            self.call_after_refresh(tree.move_cursor, target)
        tree.focus()

    # -------------------------------------------------------------- showing

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        self._select(event.node.data)

    def _select(self, data) -> None:
        if isinstance(data, tuple) and data[0] == "bad":
            self.current = None
            self._show_lines([data[1]])
        elif isinstance(data, str) and data in self.entries:
            self.current = self.entries[data]
            self.refresh_detail()

    def refresh_detail(self) -> None:
        """Show the current counterexample as `cex show` (or `cex explain`) prints it."""
        if self.current is None:
            return
        if self.explaining:
            self._show_lines(explain_lines(self.current))
        else:
            self._show_lines(show_lines(self.current, verbose=self.unfolded))

    def _show_lines(self, lines: list[str]) -> None:
        self.detail_lines = list(lines)
        self.query_one("#detail", Static).update(Text("\n".join(lines)))

    def _say(self, message: str, severity: str = "information") -> None:
        self.last_message = message
        self.notify(message, severity=severity, timeout=6)  # type: ignore[arg-type]

    # -------------------------------------------------------------- actions

    def action_toggle_explanation(self) -> None:
        self.explaining = not self.explaining
        self.refresh_detail()

    def action_toggle_state(self) -> None:
        self.unfolded = not self.unfolded
        self.explaining = False
        self.refresh_detail()

    def action_replay(self) -> None:
        if self.current is None:
            self._say("highlight a counterexample first", "warning")
            return
        r = cex_ops.replay_entries([self.current])[0]
        if r.error:
            self._say(f"not checked: {r.error}", "error")
        elif r.replays:
            self._say(f"{r.id} still replays on the current model" + (" (the model changed)" if r.model_changed else ""))
        else:
            self._say(f"{r.id} no longer replays: " + "; ".join(r.problems), "warning")

    def action_next_counterexample(self) -> None:
        if self.current is None:
            self._say("highlight a counterexample first", "warning")
            return
        self._say(f"looking for a further counterexample of {self.current.counterexample.obligation}…")
        self._find_next(self.current)

    @work(thread=True, exclusive=True, group="next")
    def _find_next(self, entry: Entry) -> None:
        try:
            got = cex_ops.find_next(self.store, entry, rlimit=self.rlimit)
        except SpecError as e:
            self.call_from_thread(self._say, e.render(), "error")
            return
        except PolykfuncError as e:
            self.call_from_thread(self._say, str(e), "error")
            return
        self.call_from_thread(self._next_done, got)

    def _next_done(self, got: cex_ops.NextOutcome) -> None:
        if got.status == "found" and got.entry is not None:
            self.reload(select=got.entry.id)
            self._say(f"new counterexample {got.entry.id} saved")
        elif got.status == "none":
            self._say(f"no further counterexample for {got.obligation}")
        elif got.status == "unknown":
            self._say(f"unknown: z3 gave up on {got.obligation}", "warning")
        else:
            self._say(f"no new root cause for {got.obligation} in {len(got.same_cause)} tries", "warning")


def _leaf_label(e: Entry) -> Text:
    c = e.counterexample
    status = cex_ops.status_of(c)
    style = {"counterexample": "bold red", "known": "yellow", "note": "cyan"}[status]
    label = Text(f"{'/'.join(cex_ops.contexts_of(c))}: {c.impl or c.outcome} ")
    label.append(f"{c.property} ", style="dim")
    label.append(status, style=style)
    label.append(f"  {e.id[:8]}", style="dim")
    return label
