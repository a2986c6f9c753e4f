"""Checks for model files on disk: safe names, bounded card reads, valid cards, checksums.

Contract: nothing here loads a model (nor imports scikit-learn: `whylabel predict --fast` starts here). `check_model_name` refuses a name that is not one plain
path component; `read_card_file` reads at most `CARD_LIMIT` bytes of a regular file and returns
a dict whose fields have the types whylabel writes; `check_card` refuses values no trained model
has (a threshold outside (0, 1), an id with a path in it, reasons that differ from the codebook);
`check_model_bytes` refuses a model file larger than `MODEL_LIMIT`, or whose SHA-256 differs from
the card's. Every refusal is one `ModelError` line that says what to do.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import sys
import unicodedata
from pathlib import Path

from .errors import ModelError
from .safefile import describe_os_error, read_limited

CARD_LIMIT = 1_000_000  # bytes: a card is a few KB of JSON
MODEL_LIMIT = 200_000_000  # bytes: the default model is a few MB
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RETRAIN = "retrain with `whylabel train`"
MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
IN_USE_FILE = "in-use.json"


def check_model_name(name: str) -> str:
    """A model name is one folder name inside --models-dir: never a path, never hidden, no
    control characters. Spaces and accents are fine (the labeling UI names its models after the
    database file); the model_id made from it is plain ASCII (`model_id_for`)."""
    if not isinstance(name, str) or not name.strip():
        raise ModelError("model name is empty; give --name a plain name such as anna-oct")
    bad = None
    if name in (".", ".."):
        bad = "is not a folder name"
    elif any(sep in name for sep in ("/", "\\")):
        bad = "contains a path separator"
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        bad = "contains a control character (a newline or NUL)"
    elif name != name.strip():
        bad = "starts or ends with a space"
    elif name.startswith((".", "-")):
        bad = "starts with '.' or '-'"
    elif len(name) > 100:
        bad = "is longer than 100 characters"
    if bad:
        raise ModelError(f"model name {name!r} {bad}; use one plain folder name such as anna-oct")
    return name


def model_id_for(name: str, digest: str) -> str:
    """`NAME-DIGEST` as a plain id: what is not an ASCII letter, digit, '-', '_' or '.' becomes '-'."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"
    slug = re.sub(r"\.{2,}", ".", slug)
    return f"{slug}-{digest}"


def read_card_file(path: Path) -> dict:
    """The card as a dict with the field types whylabel writes; one line for anything else."""
    data = read_limited(path, limit=CARD_LIMIT, what="model card", error=ModelError)
    try:
        card = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
        raise ModelError(f"{path}: unreadable model card ({reason}); {RETRAIN}") from None
    if not isinstance(card, dict):
        raise ModelError(f"{path}: model card holds a JSON {_json_type(card)}, not an object; {RETRAIN}")
    expected = {
        "model_id": (str, type(None)), "name": (str, type(None)), "created_at": str, "codebook_hash": str,
        "reasons": list, "threshold": (int, float), "versions": dict, "model_sha256": str, "words_sha256": str,
        "label_counts": dict, "languages": dict, "n_items": int, "cue_only_reasons": list,
    }
    for key, types in expected.items():
        if key in card and (not isinstance(card[key], types) or isinstance(card[key], bool)):
            raise ModelError(f"{path}: model card field {key!r} has the wrong type "
                             f"({_json_type(card[key])}); {RETRAIN}")
    versions = card.get("versions", {})
    if any(not isinstance(v, str) for v in versions.values()):
        raise ModelError(f"{path}: model card field 'versions' must map names to version strings; {RETRAIN}")
    return card


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(
        type(value), type(value).__name__)


def check_models_dir(models_dir: str | Path) -> None:
    """Before training: the models folder may be created, its parent must exist (finding 9)."""
    base = Path(models_dir)
    if base.exists() and not base.is_dir():
        raise ModelError(f"{base}: not a folder; give --models-dir a folder")
    if not base.exists() and not base.parent.is_dir():
        raise ModelError(f"{base}: folder {base.parent} does not exist (whylabel creates no folders above "
                         "the models folder)")


def check_card(card: dict, path: Path, reason_names: tuple[str, ...] | list[str]) -> None:
    """Refuse card values no `whylabel train` writes (they would steer every suggestion)."""
    threshold = card.get("threshold")
    if threshold is not None and not (math.isfinite(threshold) and 0 < threshold < 1):
        raise ModelError(f"{path}: model card threshold {threshold!r} is not a number between 0 and 1; {RETRAIN}")
    model_id = card.get("model_id")
    if model_id is not None and (not _PLAIN_ID.fullmatch(model_id) or ".." in model_id or len(model_id) > 200):
        raise ModelError(f"{path}: model card model_id {model_id!r} is not a plain id "
                         f"(letters, digits, '-', '_', '.'); {RETRAIN}")
    reasons = card.get("reasons")
    if reasons is not None and list(reasons) != list(reason_names):
        raise ModelError(f"{path}: model card reasons ({', '.join(map(str, reasons))}) differ from the codebook's "
                         f"({', '.join(reason_names)}) or their order; {RETRAIN} or use the matching --codebook")


def file_sha256(path: Path) -> str:
    """SHA-256 of a model file, read in blocks; refuses a non-regular file or one over MODEL_LIMIT."""
    try:
        # O_NONBLOCK: a FIFO in place of the model must be refused, not waited on.
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelError(f"{path}: not a regular file (a device or pipe); {RETRAIN}")
            if info.st_size > MODEL_LIMIT:
                raise ModelError(f"{path}: model file is {info.st_size / 1e6:.0f} MB, more than the "
                                 f"{MODEL_LIMIT / 1e6:.0f} MB allowed; {RETRAIN}")
            h = hashlib.sha256()
            read = 0
            while block := f.read(1 << 20):
                read += len(block)
                if read > MODEL_LIMIT:
                    raise ModelError(f"{path}: model file is more than the {MODEL_LIMIT / 1e6:.0f} MB allowed")
                h.update(block)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model file ({describe_os_error(exc)})") from None
    return h.hexdigest()


def check_model_bytes(path: Path, card: dict, card_path: Path, field: str = "model_sha256") -> str:
    """The file's SHA-256, after checking it against the card's `field` (`model_sha256`)."""
    digest = file_sha256(path)
    recorded = card.get(field)
    if not recorded:
        raise ModelError(f"{card_path}: model card has no {field} checksum (made by an older whylabel); "
                         f"{RETRAIN}")
    if digest != recorded.lower():
        raise ModelError(f"{path}: model file changed since it was trained (SHA-256 {digest[:12]}…, the card says "
                         f"{recorded[:12]}…); re-copy the model folder as it was saved, or {RETRAIN}")
    return digest


# ------------------------------------------------------------------------------------------------
# Finding the model to load (reads cards, never a model)


def _minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def read_card(directory: Path) -> dict:
    if not (directory / CARD_FILE).exists():
        raise ModelError(f"{directory}: no {CARD_FILE} beside the model; retrain with `whylabel train`")
    return read_card_file(directory / CARD_FILE)


def model_dirs(models_dir: str | Path | None = None) -> list[Path]:
    """Where models are looked for: the models folder (./models by default), then the package's
    shipped models (`default`), which can always be named."""
    from .resources import shipped_models_dir

    shipped = shipped_models_dir()
    out = [Path(models_dir if models_dir is not None else "models")]
    if shipped.resolve() != out[0].resolve():
        out.append(shipped)
    return out


def find_model(model: str | Path, models_dir=None) -> Path:
    p = Path(model)
    if p.exists() and (p.suffix == ".skops" or (p / MODEL_FILE).exists()):
        return p
    for base in model_dirs(models_dir):
        if (base / str(model) / MODEL_FILE).exists():
            return base / str(model)
    where = ", ".join(str(b) for b in model_dirs(models_dir))
    raise ModelError(f"model {str(model)!r} not found (looked in {where}); list models with `whylabel models` "
                     "or train one with `whylabel train --name NAME`")


def shipped_default() -> Path:
    """The default model that ships with whylabel (trained on the sample feedback)."""
    from .resources import default_model_dir

    return default_model_dir()


def _in_use_file(models_dir: str | Path | None) -> Path:
    return Path(models_dir or "models") / IN_USE_FILE


def in_use(models_dir: str | Path | None = None) -> dict | None:
    """The record of the model in use in this models folder: {"name", "model_id", "since", "why"}."""
    try:
        record = json.loads(_in_use_file(models_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("name"), str) else None


def sklearn_version() -> str:
    """The installed scikit-learn's version, without importing it (~1 s) unless it already is."""
    loaded = sys.modules.get("sklearn")
    if loaded is not None:
        return loaded.__version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:
        return "?"


def _compatible(card: dict, codebook) -> bool:
    return card.get("codebook_hash") == codebook.hash \
        and _minor(card.get("versions", {}).get("scikit-learn", "")) == _minor(sklearn_version())


def resolve_model(codebook, model: str | Path | None = None, models_dir: str | Path | None = None) -> Path | None:
    """The model folder (or .skops file) `load_suggester` loads, None for the cue phrases: a named
    model ("cues" = the cue phrases), else the model in use in the models folder (see `in_use`: a
    trained model becomes it only by scoring better on the team's labels), else the shipped
    default, else the cue phrases. Never silently the newest model."""
    if model is not None and str(model) == "cues" and not Path("cues").exists():
        return None
    if model is not None:
        return find_model(model, models_dir)
    record = in_use(models_dir)
    if record is not None:
        for base in model_dirs(models_dir):
            d = base / record["name"]
            if (d / MODEL_FILE).exists():
                try:
                    card = read_card(d)
                except ModelError:
                    break
                if _compatible(card, codebook):
                    return d
                break
    default = shipped_default()
    if (default / MODEL_FILE).exists():
        try:
            card = read_card(default)
        except ModelError:
            card = {}
        if _compatible(card, codebook):
            return default
    return None


def checked_card(path: Path, codebook) -> tuple[Path, Path, dict]:
    """(folder, model file, card) after the checks every load makes before reading model arrays:
    the file exists, the card is valid and matches the codebook and the installed scikit-learn, and
    the model file's SHA-256 is the card's."""
    directory = path.parent if path.is_file() or path.suffix == ".skops" else path
    file = path if path.suffix == ".skops" else path / MODEL_FILE
    if not file.exists():
        raise ModelError(f"{file}: model file not found; train one with `whylabel train`")
    card = read_card(directory)
    check_card(card, directory / CARD_FILE, codebook.reason_names)
    made_with = card.get("versions", {}).get("scikit-learn", "?")
    installed = sklearn_version()
    if _minor(made_with) != _minor(installed):
        raise ModelError(f"{file}: made with scikit-learn {made_with}, this is {installed}; "
                         "retrain with `whylabel train`")
    if card.get("codebook_hash") != codebook.hash:
        raise ModelError(f"{file}: made for another codebook ({card.get('codebook_hash')}, yours is "
                         f"{codebook.hash}); retrain with `whylabel train` or use the matching --codebook")
    check_model_bytes(file, card, directory / CARD_FILE)
    return directory, file, card
