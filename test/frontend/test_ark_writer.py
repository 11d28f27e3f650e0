"""ArkScpWriter and wspecifier parsing: the scp is the commit record of a feature job."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest

from ssd.data.ark_writer import ArkScpWriter, WSpecifier, parse_wspecifier


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ark,scp:/a/f.ark,/a/f.scp", WSpecifier("/a/f.ark", "/a/f.scp", False)),
        ("ark:f.ark", WSpecifier("f.ark", None, False)),
        ("ark,t,scp:f.ark,f.scp", WSpecifier("f.ark", "f.scp", True)),
        ("ark,scp,f:f.ark,f.scp", WSpecifier("f.ark", "f.scp", False)),
    ],
)
def test_parse_wspecifier(spec, expected):
    assert parse_wspecifier(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("f.ark", "expected 'ark:FILE'"),
        ("scp:f.scp", "expected 'ark:FILE'"),
        ("ark,scp:f.ark", "two comma-separated paths"),
        ("ark,gz:f.ark", "unsupported option"),
        ("ark:-", "cannot be written atomically"),
        ("ark:gzip -c > f.gz |", "cannot be written atomically"),
    ],
)
def test_bad_wspecifier(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_wspecifier(spec)


def test_scp_appears_only_after_a_clean_exit(tmp_path, rng):
    ark, scp = tmp_path / "f.ark", tmp_path / "f.scp"
    mats = {key: rng.standard_normal((frames, 60)).astype(np.float32) for key, frames in (("b", 3), ("a", 1))}
    with ArkScpWriter(f"ark,scp:{ark},{scp}") as writer:
        for key, mat in mats.items():
            writer.write(key, mat)
            assert not scp.exists()
    loaded = kaldiio.load_scp(str(scp))
    assert list(loaded) == ["b", "a"]
    for key, mat in mats.items():
        assert np.array_equal(loaded[key], mat)


def test_exception_removes_partial_ark_and_stale_scp(tmp_path):
    ark, scp = tmp_path / "f.ark", tmp_path / "f.scp"
    scp.write_text("old f.ark:5\n")
    with pytest.raises(RuntimeError, match="boom"), ArkScpWriter(f"ark,scp:{ark},{scp}") as writer:
        writer.write("a", np.zeros((2, 60), dtype=np.float32))
        raise RuntimeError("boom")
    assert not ark.exists() and not scp.exists()


def test_text_ark(tmp_path):
    ark, scp = tmp_path / "f.ark", tmp_path / "f.scp"
    with ArkScpWriter(f"ark,t,scp:{ark},{scp}") as writer:
        writer.write("a", np.array([[1.5, -2.0]], dtype=np.float32))
    assert ark.read_text().startswith("a  [")
    assert np.array_equal(kaldiio.load_scp(str(scp))["a"], [[1.5, -2.0]])


@pytest.mark.parametrize(("key", "message"), [("", "non-empty"), ("a b", "without whitespace")])
def test_invalid_keys(tmp_path, key, message):
    with pytest.raises(ValueError, match=message), ArkScpWriter(f"ark:{tmp_path / 'f.ark'}") as writer:
        writer.write(key, np.zeros((1, 1), dtype=np.float32))


def test_duplicate_key(tmp_path):
    mat = np.zeros((1, 1), dtype=np.float32)
    with ArkScpWriter(f"ark:{tmp_path / 'f.ark'}") as writer:
        writer.write("a", mat)
        with pytest.raises(ValueError, match="duplicate ark key 'a'"):
            writer.write("a", mat)
