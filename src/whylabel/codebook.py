"""The codebook: reasons, their drivers, decision moments and journey stages.

Contract: `load_codebook(path=None)` returns a validated, immutable `Codebook`; the default ships
in the package (`whylabel/data/codebook.toml`). An invalid file raises `CodebookError` with the
file, the line and the dotted key at fault. `Codebook.hash` is stable across formatting and
comment edits: it covers only what changes the meaning of a label or a model feature (reason
names, drivers and cue phrases), and every annotation and model records it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import CodebookError
from .nlp import LANGS
from .resources import codebook_path
from .safefile import read_limited

DRIVERS = ("emotional", "rational")
CODEBOOK_LIMIT = 5_000_000  # bytes: the built-in codebook is about 20 KB
NONE_WORDS = frozenset({"none", "geen", "no reason", "-"})
"""Cell values that mean "labeled, with no breakpoint reason" (an empty cell means unlabeled)."""

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_TOP_KEYS = {"name", "version", "description", "drivers", "moments", "stages", "reasons"}
_REASON_KEYS = {"driver", "key", "definition", "use_when", "not_when", "examples", "cues"}


@dataclass(frozen=True)
class Reason:
    name: str
    driver: str
    key: str
    definition: str
    use_when: str
    not_when: str
    examples: Mapping[str, tuple[str, ...]]
    cues: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Codebook:
    name: str
    version: str
    description: str
    drivers: Mapping[str, str]
    moments: Mapping[str, str]
    stages: Mapping[str, str]
    reasons: tuple[Reason, ...]
    path: str
    hash: str = field(default="")

    @property
    def reason_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.reasons)

    def reason(self, name: str) -> Reason:
        for r in self.reasons:
            if r.name == name:
                return r
        raise KeyError(name)

    def driver_of(self, reasons: Iterable[str]) -> str:
        """emotional / rational / mixed / none: the one-word summary a breakpoint report needs."""
        drivers = {self.reason(r).driver for r in reasons}
        if not drivers:
            return "none"
        if len(drivers) > 1:
            return "mixed"
        return drivers.pop()

    def parse_reasons(self, cell: object) -> tuple[str, ...] | None:
        """Parse a `;`/`,`-separated reasons cell.

        Returns None for an empty cell (not labeled), () for an explicit "none", else the reasons
        in codebook order. Raises ValueError naming the first unknown reason.
        """
        if cell is None:
            return None
        if isinstance(cell, (list, tuple)):
            parts = [str(p).strip().lower() for p in cell]
            if not parts:
                return ()
        else:
            text = str(cell).strip().lower()
            if not text:
                return None
            if text in NONE_WORDS:
                return ()
            parts = [p.strip() for p in re.split(r"[;,|]", text)]
        parts = [p for p in parts if p and p not in NONE_WORDS]
        known = set(self.reason_names)
        for p in parts:
            if p not in known:
                raise ValueError(
                    f"unknown reason {p!r} (expected one of: {', '.join(self.reason_names)}, or none)"
                )
        return tuple(n for n in self.reason_names if n in parts)


def default_codebook_path() -> Path:
    return codebook_path()


def load_codebook(path: str | Path | None = None) -> Codebook:
    p = Path(path) if path is not None else default_codebook_path()
    data = read_limited(p, limit=CODEBOOK_LIMIT, what="codebook file", error=CodebookError)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CodebookError(f"{p}: codebook is not UTF-8 text") from None
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CodebookError(f"{p}: not valid TOML: {exc}") from None
    except RecursionError:
        raise CodebookError(f"{p}: not a codebook: its TOML is nested too deeply") from None
    return _validate(parsed, text, str(p))


def _validate(data: dict, text: str, path: str) -> Codebook:
    def fail(key: str, message: str) -> CodebookError:
        line = _line_of(text, key)
        where = f"{path}, line {line}" if line else path
        return CodebookError(f"{where}: key '{key}': {message}")

    for k in data:
        if k not in _TOP_KEYS:
            raise fail(k, f"unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")
    for k in ("name", "drivers", "reasons"):
        if k not in data:
            raise CodebookError(f"{path}: key '{k}' is missing")

    def text_of(key: str, value: object, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise fail(key, "must be a non-empty string")
        return value.strip()

    def table(key: str, value: object) -> dict:
        if not isinstance(value, dict):
            raise fail(key, "must be a table")
        return value

    drivers = {}
    for name, definition in table("drivers", data["drivers"]).items():
        if name not in DRIVERS:
            raise fail(f"drivers.{name}", f"unknown driver {name!r} (expected one of: {', '.join(DRIVERS)})")
        drivers[name] = text_of(f"drivers.{name}.definition", (definition or {}).get("definition")
                                if isinstance(definition, dict) else definition)

    named = {}
    for section in ("moments", "stages"):
        entries = table(section, data.get(section, {}))
        for name, definition in entries.items():
            if not _NAME_RE.match(name):
                raise fail(f"{section}.{name}", "names are lower-case letters, digits, '-' or '_'")
            text_of(f"{section}.{name}", definition)
        named[section] = {n: d.strip() for n, d in entries.items()}

    reasons = []
    keys_seen: dict[str, str] = {}
    cue_owner: dict[tuple[str, str], str] = {}
    for name, body in table("reasons", data["reasons"]).items():
        base = f"reasons.{name}"
        if not _NAME_RE.match(name):
            raise fail(base, "reason names are lower-case letters, digits, '-' or '_'")
        if name in NONE_WORDS:
            raise fail(base, f"{name!r} is reserved for 'no breakpoint reason'")
        body = table(base, body)
        for k in body:
            if k not in _REASON_KEYS:
                raise fail(f"{base}.{k}", f"unknown key (allowed: {', '.join(sorted(_REASON_KEYS))})")
        driver = body.get("driver")
        if driver not in drivers:
            raise fail(f"{base}.driver",
                       f"unknown driver {driver!r} (expected one of: {', '.join(drivers)})")
        key = str(body.get("key", "")).strip()
        if not re.fullmatch(r"[1-9]", key):
            raise fail(f"{base}.key", "must be a single digit 1-9 (the key that toggles it in the UI)")
        if key in keys_seen:
            raise fail(f"{base}.key", f"key {key} is already used by reason {keys_seen[key]!r}")
        keys_seen[key] = name
        per_lang = {}
        for group in ("examples", "cues"):
            value = table(f"{base}.{group}", body.get(group, {}))
            langs = {}
            for lang, items in value.items():
                k = f"{base}.{group}.{lang}"
                if lang not in LANGS:
                    raise fail(k, f"unknown language {lang!r} (expected one of: {', '.join(LANGS)})")
                if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
                    raise fail(k, "must be a list of non-empty strings")
                cleaned = tuple(i.strip() if group == "examples" else i.strip().lower() for i in items)
                if group == "cues":
                    for cue in cleaned:
                        owner = cue_owner.setdefault((lang, cue), name)
                        if owner != name:
                            raise fail(k, f"cue {cue!r} is also a cue of reason {owner!r}")
                langs[lang] = cleaned
            per_lang[group] = MappingProxyType(langs)
        reasons.append(Reason(
            name=name,
            driver=driver,
            key=key,
            definition=text_of(f"{base}.definition", body.get("definition")),
            use_when=text_of(f"{base}.use_when", body.get("use_when"), required=False),
            not_when=text_of(f"{base}.not_when", body.get("not_when"), required=False),
            examples=per_lang["examples"],
            cues=per_lang["cues"],
        ))
    if not reasons:
        raise fail("reasons", "the codebook defines no reasons")

    book = Codebook(
        name=text_of("name", data["name"]),
        version=str(data.get("version", "")),
        description=str(data.get("description", "")).strip(),
        drivers=MappingProxyType(drivers),
        moments=MappingProxyType(named["moments"]),
        stages=MappingProxyType(named["stages"]),
        reasons=tuple(reasons),
        path=path,
    )
    object.__setattr__(book, "hash", codebook_hash(book))
    return book


def codebook_hash(book: Codebook) -> str:
    """Hash of what changes the meaning of a label or a feature: names, drivers, cues."""
    canon = [
        {"name": r.name, "driver": r.driver,
         "cues": {lang: sorted(r.cues.get(lang, ())) for lang in sorted(r.cues)}}
        for r in book.reasons
    ]
    blob = json.dumps(canon, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")


def _line_of(text: str, dotted: str) -> int | None:
    """Best line number for a dotted key: tomllib reports none once a file parses."""
    def norm(s: str) -> str:
        return ".".join(part.strip().strip('"\'') for part in s.split("."))

    target = norm(dotted)
    header = ""
    best = None
    for number, line in enumerate(text.splitlines(), start=1):
        m = _HEADER_RE.match(line)
        if m:
            header = norm(m.group(1))
            if header == target:
                best = best or number
            continue
        m = _KEY_RE.match(line)
        if not m:
            continue
        full = norm(f"{header}.{m.group(1)}" if header else m.group(1))
        if full == target:
            return number
        if target.startswith(full + ".") and best is None:
            best = number
    return best
