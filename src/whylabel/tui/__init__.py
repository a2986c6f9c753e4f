"""The labeling UI (Textual).

Contract: `whylabel.tui.app.build_app(...)` is the one way to build the app, for the CLI and the
tests alike. This package's `__init__` imports nothing, so a training subprocess that imports
`whylabel.tui.engine` never pays for Textual; `session` and `engine` are UI-free as well.
"""
