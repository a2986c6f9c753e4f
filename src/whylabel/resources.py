"""What ships inside the package: the default codebook, the default model, the demo sample and the
report's page template.

Found through `importlib.resources`, so they are where the installed package is, whichever way it
was installed (a wheel, `pip install .`, `pip install -e .`) and whatever the working directory.
`python -m whylabel.build_default` writes the default model back to the same place.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_FILES = ("survey_answers.csv", "product_reviews.jsonl", "support_tickets.csv")
"""The demo sample's feedback files (with their `reasons` labels), in import order."""
SAMPLE_BREAKPOINTS = "breakpoints.csv"
DEFAULT_MODEL_NAME = "default"


def _data(*parts: str) -> Path:
    """A path under whylabel/data. The package data are plain files on disk (a wheel installs them
    so; zipped imports are not supported), so the Traversable is a real Path."""
    found = resources.files("whylabel").joinpath("data", *parts)
    return found if isinstance(found, Path) else Path(str(found))


def codebook_path() -> Path:
    return _data("codebook.toml")


def shipped_models_dir() -> Path:
    """The directory holding the shipped models (`default/`): searched after ./models."""
    return _data("models")


def default_model_dir() -> Path:
    return shipped_models_dir() / DEFAULT_MODEL_NAME


def sample_dir() -> Path:
    """The demo sample: survey answers, product reviews, support tickets and breakpoint figures."""
    return _data("sample_feedback")


def templates_dir() -> Path:
    """The Jinja2 templates of the HTML report (whylabel/templates)."""
    found = resources.files("whylabel").joinpath("templates")
    return found if isinstance(found, Path) else Path(str(found))
