"""The codebook: the default one, validation errors with key and line, the stable hash."""

from __future__ import annotations

import pytest

from whylabel.codebook import default_codebook_path, load_codebook
from whylabel.errors import CodebookError


def test_default_codebook(codebook):
    assert codebook.reason_names == ("trust", "fear", "uncertainty", "price", "features", "terms")
    assert {r.name: r.driver for r in codebook.reasons} == {
        "trust": "emotional", "fear": "emotional", "uncertainty": "emotional",
        "price": "rational", "features": "rational", "terms": "rational",
    }
    assert [r.key for r in codebook.reasons] == ["1", "2", "3", "4", "5", "6"]
    assert set(codebook.moments) == {"choose", "stay", "leave", "return"}
    assert set(codebook.stages) == {"awareness", "consideration", "purchase", "retention"}
    for r in codebook.reasons:
        assert r.definition and r.use_when and r.not_when
        for lang in ("en", "nl"):
            assert len(r.examples[lang]) >= 3, (r.name, lang)
            assert len(r.cues[lang]) >= 20, (r.name, lang)
    assert len(codebook.hash) == 16


def test_driver_of_and_parse_reasons(codebook):
    assert codebook.driver_of([]) == "none"
    assert codebook.driver_of(["fear", "trust"]) == "emotional"
    assert codebook.driver_of(["price", "fear"]) == "mixed"
    assert codebook.parse_reasons("") is None
    assert codebook.parse_reasons("none") == ()
    assert codebook.parse_reasons("Terms; price") == ("price", "terms")
    assert codebook.parse_reasons(["fear"]) == ("fear",)
    with pytest.raises(ValueError, match="unknown reason 'prise'"):
        codebook.parse_reasons("prise")


def test_hash_ignores_formatting_but_not_cues(tmp_path, codebook):
    text = default_codebook_path().read_text(encoding="utf-8")
    reformatted = tmp_path / "a.toml"
    reformatted.write_text("# our team's copy\n\n" + text.replace("definition = ", "definition =  "), encoding="utf-8")
    assert load_codebook(reformatted).hash == codebook.hash
    changed = tmp_path / "b.toml"
    changed.write_text(text.replace("[reasons.price]", "[reasons.price]\n# cheaper\n", 1)
                       .replace('cues.en = [', 'cues.en = ["zzz unusual cue", ', 1), encoding="utf-8")
    assert load_codebook(changed).hash != codebook.hash


BASE = """name = "team"
[drivers.emotional]
definition = "feelings"
[drivers.rational]
definition = "reasons"
[moments]
choose = "buy or not"
[reasons.trust]
driver = "emotional"
key = "1"
definition = "doubt about honesty"
cues.en = ["scam"]
"""


@pytest.mark.parametrize("edit, message", [
    (('driver = "emotional"', 'driver = "emotinal"'),
     "line 9: key 'reasons.trust.driver': unknown driver 'emotinal' (expected one of: emotional, rational)"),
    (('[drivers.rational]', '[drivers.logical]'),
     "line 4: key 'drivers.logical': unknown driver 'logical' (expected one of: emotional, rational)"),
    (('key = "1"', 'key = "x"'),
     "line 10: key 'reasons.trust.key': must be a single digit 1-9 (the key that toggles it in the UI)"),
    (('cues.en = ["scam"]', 'cues.de = ["betrug"]'),
     "line 12: key 'reasons.trust.cues.de': unknown language 'de' (expected one of: en, nl)"),
    (('definition = "doubt about honesty"', 'definitoin = "doubt"'),
     "line 11: key 'reasons.trust.definitoin': unknown key (allowed: cues, definition, driver, examples, key, not_when, use_when)"),
])
def test_invalid_codebooks_name_key_and_line(tmp_path, edit, message):
    f = tmp_path / "team.toml"
    f.write_text(BASE.replace(*edit), encoding="utf-8")
    with pytest.raises(CodebookError) as err:
        load_codebook(f)
    assert str(err.value) == f"{f}, {message}"


def test_toml_syntax_error_and_missing_file(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text(BASE + "[reasons.fear\n", encoding="utf-8")
    with pytest.raises(CodebookError, match=r"broken.toml: not valid TOML: .*line 13"):
        load_codebook(f)
    with pytest.raises(CodebookError, match="codebook file not found"):
        load_codebook(tmp_path / "nope.toml")


def test_cli_refuses_invalid_codebook(cli, tmp_path):
    f = tmp_path / "team.toml"
    f.write_text(BASE.replace('driver = "emotional"', 'driver = "angry"'), encoding="utf-8")
    data = tmp_path / "a.csv"
    data.write_text("text\nhoi\n", encoding="utf-8")
    r = cli("import", data, "--codebook", f)
    assert r.exit_code == 2
    assert r.stderr == (f"whylabel: error: {f}, line 9: key 'reasons.trust.driver': unknown driver 'angry' "
                        "(expected one of: emotional, rational)\n")
    assert not (tmp_path / "whylabel.db").exists()
