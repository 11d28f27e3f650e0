"""The front-end record beside a dump (frontend.json) and the check that refuses features computed
otherwise than the model's front end computes them."""

import json

import pytest

from ssd.frontend.dump_settings import SETTINGS_FILE, check_dump_settings, settings_record
from ssd.frontend.registry import build_frontend


@pytest.mark.parametrize("name", ["lfcc", "spectrogram", "spectrogram_4ms"])
def test_a_dump_recorded_by_its_own_front_end_passes_and_any_other_is_refused(tmp_path, name):
    (tmp_path / SETTINGS_FILE).write_text(settings_record(name, 16000) + "\n")
    check_dump_settings(tmp_path, build_frontend(name))
    others = [other for other in ("lfcc", "spectrogram", "spectrogram_4ms") if other != name]
    for other in others:
        with pytest.raises(ValueError, match=f"{SETTINGS_FILE}: these features were computed with other "
                                             f"{other} settings"):
            check_dump_settings(tmp_path, build_frontend(other))


def test_the_refusal_names_what_differs_and_a_dump_without_a_record_is_read_as_it_is(tmp_path):
    fe = build_frontend("spectrogram_4ms")
    check_dump_settings(tmp_path, fe)  # no record: a hand-made dump
    older = json.loads(settings_record("spectrogram_4ms", 16000))
    older["hop_samples"] = 16  # the 1 ms hop of the first version
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(older))
    with pytest.raises(ValueError, match=r"differ in hop_samples\); recompute them"):
        check_dump_settings(tmp_path, fe)
    (tmp_path / SETTINGS_FILE).write_text(settings_record("spectrogram_4ms", 8000))
    check_dump_settings(tmp_path, fe)  # another rate, computed as this front end computes it


@pytest.mark.parametrize(("text", "error"), [("{not json", "unreadable front-end record"),
                                             ("[1, 2]", "not a front-end record"),
                                             ('{"fs": "16000"}', "not a front-end record"),
                                             ('{"fs": 22050}', "multiple of 1 kHz")])
def test_a_broken_record_is_an_error_naming_the_file(tmp_path, text, error):
    (tmp_path / SETTINGS_FILE).write_text(text)
    with pytest.raises(ValueError, match=error) as caught:
        check_dump_settings(tmp_path, build_frontend("spectrogram_4ms"))
    assert str(tmp_path / SETTINGS_FILE) in str(caught.value)
