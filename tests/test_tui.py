"""The labeling UI driven key by key (Textual's pilot), asserting what the database holds afterwards."""

from __future__ import annotations

import asyncio
import threading

import pytest
from tui_helpers import KEYWORDS, FakeSuggester, annotations, current_labels, make_db, make_queue_db, plain

from textual import events
from textual.widgets import OptionList

from whylabel.store import Store
from whylabel.suggestion import Suggestion
from whylabel.tui.app import build_app
from whylabel.tui.codebook_screen import CodebookScreen
from whylabel.tui.filter_screen import FilterScreen
from whylabel.tui.item_view import ItemView
from whylabel.tui.label_screen import REACTION_TIME
from whylabel.tui.engine import InProcessEngine, TrainSummary
from whylabel.tui.messages import QueueReordered, SuggestionsReady, TrainingDone
from whylabel.tui.reason_panel import ReasonPanel
from whylabel.tui.session import QueueFilter

SIZE = (100, 30)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "ui.db"
    make_db(path)
    return path


def app_for(db, codebook, **kw):
    kw.setdefault("suggester_factory", FakeSuggester)
    kw.setdefault("queue", "newest")
    kw.setdefault("retrain_every", 0)
    kw.setdefault("clock", lambda: 0.0)
    # These keys answer what is on screen: no wait for a human's reaction time between them.
    kw.setdefault("reaction_time", 0.0)
    return build_app(db, codebook, annotator=kw.pop("annotator", "tester"), **kw)


def run(app, scenario, size=SIZE):
    async def main():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(pilot)
    asyncio.run(main())


async def settle(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def shown(app) -> int | None:
    cur = app.label_screen.session.current()
    return None if cur is None else cur.item["id"]


def panel_text(app) -> str:
    return plain(app.label_screen.query_one(ReasonPanel).content)


def item_text(app) -> str:
    view = app.label_screen.query_one(ItemView)
    return "\n".join(plain(w.content) for w in view.query("Static"))


# -- saving -------------------------------------------------------------------------------------


def test_enter_accepts_the_suggestion_and_commits_before_the_next_item(db, codebook):
    app = app_for(db, codebook)
    seen = {}

    async def scenario(pilot):
        assert shown(app) == 1  # newest first
        assert "[x] 4 price" in panel_text(app)  # pre-selected: above the threshold
        await pilot.press("enter")
        seen["after"] = shown(app)
        seen["rows"] = annotations(db)  # read while the app is still running

    run(app, scenario)
    assert seen["after"] == 2
    assert seen["rows"] == [(1, ("price",), None, "ui")]
    with Store(db) as s:
        assert s.annotations(1)[0]["codebook_hash"] == codebook.hash


def test_toggles_change_the_preselection_and_zero_saves_no_reason(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("1", "4", "5", "5", "enter")  # +trust -price (+features -features)
        await pilot.press("0")  # item 2: the suggestion (trust) is ignored
        await pilot.press("9", "3", "6", "enter")  # 9 is no reason's key: ignored

    run(app, scenario)
    assert annotations(db) == [(1, ("trust",), None, "ui"), (2, (), None, "ui"), (3, ("price",), None, "ui")]


def test_enter_without_a_suggestion_saves_nothing_and_says_what_to_do(db, codebook):
    release = threading.Event()

    def slow_factory(book):
        release.wait(10)
        return FakeSuggester(book)

    app = app_for(db, codebook, suggester_factory=slow_factory)

    async def scenario(pilot):
        await pilot.pause()
        await pilot.press("enter")
        assert annotations(db) == []
        assert "Nothing selected" in plain(app.label_screen.message)
        assert shown(app) == 1
        release.set()
        await settle(pilot)
        await pilot.press("enter")  # now the suggestion is there to accept

    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot)
    asyncio.run(main())
    assert annotations(db) == [(1, ("price",), None, "ui")]


def test_stored_suggestions_show_before_the_suggester_is_loaded(db, codebook):
    with Store(db) as s:
        sug = FakeSuggester(model_id="stored-model").suggest(["Way too expensive"])[0]
        s.save_suggestions([sug.to_row(1, "stored-model")])
    release = threading.Event()

    def slow_factory(book):
        release.wait(10)
        return FakeSuggester(book)

    app = app_for(db, codebook, suggester_factory=slow_factory)

    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.label_screen.model_id is None
            assert "0.90" in panel_text(app) and "[x] 4 price" in panel_text(app)
            release.set()
            await settle(pilot)
            assert app.label_screen.model_id == "fake-1"
    asyncio.run(main())


# -- undo, skip, review ---------------------------------------------------------------------------


def test_undo_chain_appends_and_walks_back_through_the_session(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("enter", "0", "5", "enter")  # items 1, 2, 3
        assert shown(app) == 4
        await pilot.press("u")
        assert shown(app) == 3
        await pilot.press("ctrl+z")
        assert shown(app) == 2
        await pilot.press("u", "u")  # the second u has nothing left to undo
        assert shown(app) == 1
        assert "Nothing to undo" in plain(app.label_screen.message)
        await pilot.press("6", "enter")

    run(app, scenario)
    assert annotations(db) == [
        (1, ("price",), None, "ui"), (2, (), None, "ui"),
        (3, ("uncertainty", "price", "features", "terms"), None, "ui"),
        (3, None, None, "undo"), (2, None, None, "undo"), (1, None, None, "undo"),
        (1, ("price", "terms"), None, "ui"),
    ]
    assert current_labels(db) == {1: ("price", "terms")}


def test_undo_of_a_relabel_restores_the_previous_label_and_note(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("e", *"first thought", "enter", "enter")  # item 1: price, with a note
        await pilot.press("left")  # review item 1
        assert shown(app) == 1 and app.label_screen.session.review == 0
        await pilot.press("1", "enter")  # relabel: price + trust
        assert shown(app) == 2  # past the newest label: back to the queue
        await pilot.press("u")
        assert shown(app) == 1  # back on the relabeled item, in review

    run(app, scenario)
    assert annotations(db) == [
        (1, ("price",), "first thought", "ui"),
        (1, ("trust", "price"), "first thought", "ui"),
        (1, ("price",), "first thought", "undo"),
    ]


def test_skip_moves_the_item_to_the_end_and_stores_nothing(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("s")
        assert annotations(db) == []
        assert shown(app) == 2
        for _ in range(7):
            await pilot.press("0")
        assert shown(app) == 1  # the skipped item comes last, it is never dropped
        await pilot.press("s")  # the only item left: nothing to skip to
        assert shown(app) == 1
        await pilot.press("0")
        assert shown(app) is None
        assert "Nothing left to label" in item_text(app)

    run(app, scenario)
    assert [r[0] for r in annotations(db)] == [2, 3, 4, 5, 6, 7, 8, 1]


def test_left_right_walk_through_labels_and_relabel(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("enter", "enter", "enter")  # 1, 2, 3
        await pilot.press("left", "left")
        assert shown(app) == 2
        assert "REVIEW 2/3" in item_text(app) and "yours: trust" in item_text(app)
        await pilot.press("left", "left")  # the oldest stays put
        assert shown(app) == 1
        await pilot.press("right")
        assert shown(app) == 2
        await pilot.press("3", "enter")  # relabel 2, move on to 3
        assert shown(app) == 3
        await pilot.press("s")  # in review, s steps forward without saving
        assert shown(app) == 4  # back to the queue
        await pilot.press("right")  # nothing ahead in review: stays
        assert shown(app) == 4

    run(app, scenario)
    assert current_labels(db) == {1: ("price",), 2: ("trust", "uncertainty"), 3: ("uncertainty", "price", "terms")}
    assert len(annotations(db)) == 4


# -- notes, search, filters -----------------------------------------------------------------------


def test_note_is_stored_with_the_decision_and_escape_cancels(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("e", *"maybe terms too", "enter")
        assert annotations(db) == []  # a note alone is not a decision
        assert "maybe terms too" in item_text(app)
        await pilot.press("0")
        await pilot.press("e", *"discard me", "escape", "enter")

    run(app, scenario)
    assert annotations(db) == [(1, (), "maybe terms too", "ui"), (2, ("trust",), None, "ui")]


def test_search_narrows_the_queue_to_matching_text(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("slash", *"duur", "enter")
        assert shown(app) == 3
        assert app.label_screen.session.total == 2
        await pilot.press("enter", "enter")
        assert shown(app) is None
        await pilot.press("slash", "ctrl+u", "enter")  # empty search: everything again
        assert shown(app) == 1

    run(app, scenario)
    assert current_labels(db) == {3: ("uncertainty", "price", "terms"), 8: ("price", "features")}


async def choose_filter(pilot, wanted: QueueFilter):
    await pilot.press("f")
    screen = pilot.app.screen
    assert isinstance(screen, FilterScreen)
    start = screen.query_one(OptionList).highlighted or 0  # the current filter is highlighted
    index = screen.choices.index(wanted)
    await pilot.press(*(["down" if index > start else "up"] * abs(index - start)), "enter")
    assert pilot.app.label_screen.session.filter == wanted


def test_filter_by_breakpoint_source_and_suggested_reason(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await choose_filter(pilot, QueueFilter(breakpoint="returns"))
        assert list(app.label_screen.session.pending) == [4, 6, 7]
        await pilot.press("0")
        await choose_filter(pilot, QueueFilter(source="ticket"))
        assert list(app.label_screen.session.pending) == [2, 5]
        await pilot.press("0")
        await choose_filter(pilot, QueueFilter(reason="price"))  # the suggestion includes price
        assert list(app.label_screen.session.pending) == [1, 3, 8]
        await pilot.press("0")
        await choose_filter(pilot, QueueFilter())
        assert list(app.label_screen.session.pending) == [3, 5, 6, 7, 8]

    run(app, scenario)
    assert [r[0] for r in annotations(db)] == [4, 2, 1]


def test_filter_disagrees_with_model_reviews_my_differing_labels(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("enter")  # 1: accepts price (agrees)
        await pilot.press("0")  # 2: no reason, the model says trust (disagrees)
        await pilot.press("4", "enter")  # 3: drops price (disagrees)
        await choose_filter(pilot, QueueFilter(disagrees=True))
        assert list(app.label_screen.session.pending) == [2, 3]
        assert "yours: no breakpoint reason" in item_text(app)
        await pilot.press("1", "enter")  # 2: now trust, as the model says
        assert shown(app) == 3

    run(app, scenario)
    assert current_labels(db)[2] == ("trust",)
    with Store(db) as s:
        assert s.disagreements("tester") == [3]


def test_filter_escape_changes_nothing(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("f", "down", "escape")
        assert app.label_screen.session.filter == QueueFilter()
        assert shown(app) == 1

    run(app, scenario)


# -- blind mode ---------------------------------------------------------------------------------


def test_blind_mode_hides_suggestions_and_counts_only_my_labels(db, codebook):
    with Store(db) as s:
        s.annotate(1, ["price"], annotator="anna")  # somebody else's label
    app = app_for(db, codebook, blind=True)

    async def scenario(pilot):
        assert shown(app) == 1  # still mine to code
        text = panel_text(app)
        assert "[x]" not in text and "0.90" not in text and "█" not in text
        assert "“" not in text
        await pilot.press("enter")  # nothing pre-selected: enter alone saves nothing
        assert annotations(db) == []
        await pilot.press("2", "enter", "0")
        await pilot.press("f")
        labels = pilot.app.screen.labels
        assert not any("Suggested" in x or "Disagrees" in x for x in labels)
        await pilot.press("escape")

    run(app, scenario)
    assert annotations(db) == [(1, ("fear",), None, "ui"), (2, (), None, "ui")]
    assert current_labels(db, "anna") == {1: ("price",)}


# -- suggestions and retraining ------------------------------------------------------------------


class FakeTrainer:
    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, store, codebook):
        n = len(store.labeled())
        self.calls.append(n)
        return FakeSuggester(model_id=f"trained-on-{n}", low=0.2)


def test_auto_retrain_after_every_n_labels_replaces_suggestions(db, codebook):
    trainer = FakeTrainer()
    app = app_for(db, codebook, trainer=trainer, retrain_every=3)

    async def scenario(pilot):
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert trainer.calls == []
        await pilot.press("enter")
        await settle(pilot)
        assert trainer.calls == [3]
        assert app.label_screen.model_id == "trained-on-3"
        assert "retrained on 3 labels" in plain(app.label_screen.message)
        assert "0.20" in panel_text(app)  # the current item shows the new model's suggestion
        await pilot.press("t")  # retrain now
        await settle(pilot)
        assert trainer.calls == [3, 3]

    run(app, scenario)
    with Store(db) as s:
        models = {s.suggestion(i)["model_id"] for i in (4, 5, 6, 7, 8)}
    assert models == {"trained-on-3"}  # every pending item got the new model's suggestion


def test_training_failure_is_shown_and_labeling_goes_on(db, codebook):
    def broken(store, book):
        raise RuntimeError("not enough labels for features")

    app = app_for(db, codebook, trainer=broken)

    async def scenario(pilot):
        await pilot.press("t")
        await settle(pilot)
        assert "training failed: not enough labels for features" in plain(app.label_screen.message)
        await pilot.press("enter")

    run(app, scenario)
    assert annotations(db) == [(1, ("price",), None, "ui")]


def test_uncertain_queue_follows_the_model_margin_and_drops_nothing(db, codebook):
    class Margins(FakeSuggester):
        def suggest(self, texts, langs=None):
            out = super().suggest(texts, langs)
            # "Great service" gets 0.5 everywhere: the least sure.
            return [s if "Great" not in t else type(s)({r: 0.5 for r in s.probabilities}, (), {}, 0.5)
                    for t, s in zip(texts, out)]

    app = app_for(db, codebook, suggester_factory=Margins, queue="uncertain")

    async def scenario(pilot):
        pending = list(app.label_screen.session.pending)
        assert pending[0] == 1  # no suggestions yet: by id
        assert pending[1] == 6  # reordered once the suggestions were filled in
        assert sorted(pending) == [1, 2, 3, 4, 5, 6, 7, 8]

    run(app, scenario)


def test_real_cue_suggester_and_train_from_store(db, codebook):
    model = pytest.importorskip("whylabel.model")

    def trainer(store, book):
        return model.train_from_store(store, book, save=False, cv_folds=0).suggester

    app = app_for(db, codebook, suggester_factory=model.CueSuggester, trainer=trainer)

    async def scenario(pilot):
        assert app.label_screen.model_id.startswith("cues-")
        for keys in (["4", "enter"], ["1", "enter"], ["4", "enter"], ["5", "enter"], ["0"], ["2", "enter"]):
            await pilot.press(*keys)
        await pilot.press("t")
        await settle(pilot)
        assert not app.label_screen.model_id.startswith("cues-"), app.label_screen.message
        labeled = len(current_labels(db))
        assert labeled >= 4
        assert f"retrained on {labeled} labels" in plain(app.label_screen.message)

    run(app, scenario)
    with Store(db) as s:
        assert s.suggestion(8)["model_id"] == app.label_screen.model_id


# -- keys typed ahead, late suggestions ------------------------------------------------------------


def late(*reasons: str) -> Suggestion:
    """A suggestion as a retrain or a late batch delivers it: 0.95 for its reasons, 0.05 for the rest."""
    return Suggestion({r: 0.95 if r in reasons else 0.05 for r in KEYWORDS}, reasons, {}, 0.5)


def typed(*keys: str) -> list[events.Key]:
    """Key events as the terminal driver makes them, stamped now (when they were typed)."""
    chars = {"enter": "\r"}
    return [events.Key(k, chars.get(k, k)) for k in keys]


async def until(pilot, done, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if done():
            return
        await pilot.pause(0.02)
    raise AssertionError("the UI did not get there in time")


def test_a_late_suggestion_never_changes_a_touched_selection_and_updates_an_untouched_one(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        screen = app.label_screen
        await pilot.press("1")  # item 1: price pre-selected, trust added
        screen.post_message(SuggestionsReady({1: late("features")}, screen.model_id))
        await pilot.pause()
        text = panel_text(app)
        assert "[x] 1 trust" in text and "[x] 4 price" in text and "[ ] 5 features" in text
        assert "0.95" in text  # the new probabilities are shown, the selection stays
        await pilot.press("enter")
        assert shown(app) == 2 and "[x] 1 trust" in panel_text(app)  # untouched: the stored suggestion
        screen.post_message(SuggestionsReady({2: late("fear")}, screen.model_id))
        await pilot.pause()
        assert "[x] 2 fear" in panel_text(app) and "[ ] 1 trust" in panel_text(app)
        await pilot.press("enter")

    run(app, scenario)
    assert annotations(db) == [(1, ("trust", "price"), None, "ui"), (2, ("fear",), None, "ui")]


def test_any_key_on_an_item_keeps_its_preselection_against_late_suggestions(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        screen = app.label_screen
        await pilot.press("m")  # item 1, price pre-selected: the researcher reads the other fields
        screen.post_message(SuggestionsReady({1: late("features")}, screen.model_id))
        await pilot.pause()
        text = panel_text(app)
        assert "[x] 4 price" in text and "[ ] 5 features" in text and "0.95" in text
        await pilot.press("enter")

    run(app, scenario)
    assert annotations(db) == [(1, ("price",), None, "ui")]


def test_keys_typed_before_a_late_suggestion_act_on_what_was_on_screen(db, codebook):
    app = app_for(db, codebook, reaction_time=REACTION_TIME)

    async def scenario(pilot):
        screen = app.label_screen
        await pilot.pause(REACTION_TIME + 0.05)  # the researcher sees item 1 with price pre-selected
        keys = typed("1")  # and presses 1; before the key is handled, a retrain's suggestion arrives
        screen.post_message(SuggestionsReady({1: late("features")}, screen.model_id))
        await pilot.pause()
        assert "[x] 5 features" in panel_text(app) and "[ ] 4 price" in panel_text(app)
        app.post_message(keys[0])
        await pilot.pause()
        text = panel_text(app)
        assert "[x] 1 trust" in text and "[x] 4 price" in text and "[ ] 5 features" in text
        await pilot.press("enter")
        await pilot.pause(REACTION_TIME + 0.05)  # item 2 with trust pre-selected, seen
        keys = typed("enter")  # enter accepts what was seen, not what arrived after the key
        screen.post_message(SuggestionsReady({2: late("fear")}, screen.model_id))
        await pilot.pause()
        app.post_message(keys[0])
        await until(pilot, lambda: shown(app) == 3)

    run(app, scenario)
    assert annotations(db) == [(1, ("trust", "price"), None, "ui"), (2, ("trust",), None, "ui")]


def test_forty_decisions_typed_ahead_in_one_burst_land_on_their_items_in_queue_order(tmp_path, codebook):
    db = tmp_path / "queue.db"
    queue = make_queue_db(db, 60)
    app = build_app(db, codebook, annotator="tester", suggester_factory=FakeSuggester, queue="newest",
                    retrain_every=0)
    preselected: list[int] = []

    async def scenario(pilot):
        screen = app.label_screen
        await settle(pilot)
        preselected.extend(i for i in queue[:40] if "trust" in screen.suggestion_for(i).reasons)
        for key in typed(*["1", "enter"] * 40):  # typed in one go, faster than the screen follows
            app.post_message(key)
        await until(pilot, lambda: screen.session.decisions >= 40)
        await pilot.pause(0.1)

    run(app, scenario)
    assert len(preselected) >= 5  # a toggle from the suggestion would have taken trust away here
    rows = annotations(db)
    assert [r[0] for r in rows] == queue[:40]
    assert all("trust" in r[1] for r in rows)
    assert [r[1] for r in rows[1:]] == [("trust",)] * 39  # typed before their item was on screen


def test_keys_typed_before_a_queue_reorder_go_to_the_items_that_were_next(tmp_path, codebook):
    db = tmp_path / "queue.db"
    make_queue_db(db, 30)
    app = build_app(db, codebook, annotator="tester", suggester_factory=FakeSuggester, queue="uncertain",
                    retrain_every=0)
    before: list[int] = []

    async def scenario(pilot):
        screen = app.label_screen
        await settle(pilot)
        before.extend(screen.session.pending)
        keys = typed(*"00000")
        screen.post_message(QueueReordered(list(reversed(before))))  # e.g. a retrain's new margins
        await pilot.pause()
        assert list(screen.session.pending)[:2] == [before[0], before[-1]]
        for key in keys:
            app.post_message(key)
        await until(pilot, lambda: screen.session.decisions == 5)
        assert [r[0] for r in annotations(db)] == before[:5]
        await pilot.press("0")  # typed after the reorder: the new order applies again
        assert annotations(db)[-1][0] == before[5]
        assert shown(app) == before[-1]

    run(app, scenario)


def test_suggestions_asked_of_the_old_model_are_not_taken_for_the_new_one(db, codebook):
    class RetrainLandsMidCall(InProcessEngine):
        """The retrained suggester takes over while a prefetch is being answered by the old one."""

        switch_to = None

        def suggest(self, item_ids, *, want=True):
            out = super().suggest(item_ids, want=want)
            if self.switch_to is not None:
                self._suggester, self.switch_to = self.switch_to, None
            return out

    engine = RetrainLandsMidCall(db, codebook, suggester_factory=FakeSuggester)
    app = app_for(db, codebook, engine=engine)

    async def scenario(pilot):
        screen = app.label_screen
        assert "0.10" in panel_text(app)  # fake-1: 0.1 for the reasons it does not suggest
        engine.switch_to = FakeSuggester(model_id="fake-2", low=0.2)
        screen.post_message(TrainingDone(TrainSummary("fake-2", 3)))
        await settle(pilot)
        assert "0.20" in panel_text(app) and "0.10" not in panel_text(app)

    run(app, scenario)


# -- help, palette, quitting ----------------------------------------------------------------------


def test_help_screen_shows_the_codebook_in_english_and_dutch(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, CodebookScreen)
        text = plain(app.screen.query_one("#help-text").content)
        trust = codebook.reason("trust")
        assert trust.definition in text.replace("\n", " ") or trust.definition[:40] in text
        assert "Use when" in text and "Not when" in text
        assert "Voorbeelden (Nederlands)" in text and trust.examples["nl"][0][:30] in text
        await pilot.press("1")  # keys of the labeling screen do nothing here
        await pilot.press("escape")
        assert app.screen is app.label_screen

    run(app, scenario)
    assert annotations(db) == []


def test_every_key_is_in_the_command_palette(db, codebook):
    app = app_for(db, codebook)

    async def scenario(pilot):
        titles = " ".join(c.title for c in app.get_system_commands(app.label_screen))
        for key in ("(enter)", "(0)", "(s)", "(u, ctrl+z)", "(←)", "(→)", "(/)", "(f)", "(e)", "(?)", "(t)",
                    "(q)", "(1)", "(6)"):
            assert key in titles, key
        await pilot.press("ctrl+p")
        await pilot.press(*"no breakpoint", "enter")
        await pilot.pause()

    run(app, scenario)
    assert annotations(db) == [(1, (), None, "ui")]


def test_quit_and_reopen_continues_where_you_stopped(db, codebook):
    app = app_for(db, codebook)

    async def first(pilot):
        await pilot.press("enter", "0", "s", "q")

    run(app, first)
    assert app.return_code == 0
    again = app_for(db, codebook)

    async def second(pilot):
        assert shown(again) == 3  # a skip is not remembered across sessions, labels are
        assert again.label_screen.session.history == [1, 2]
        assert "2/8 labeled" in plain(again.label_screen.query_one("#progress").content)
        await pilot.press("left")
        assert shown(again) == 2

    run(again, second)
