"""Config: defaults, typed values, and errors that name the key and the file."""

from __future__ import annotations

from datetime import date

import pytest

from goroscope.config import Config, config_from_dict, load_config
from goroscope.errors import ConfigError


def test_defaults():
    cfg = load_config(None)
    assert cfg == Config()
    assert cfg.discovery.max_inflate_bytes == 4 * 1024**3


def test_full_file(tmp_path):
    p = tmp_path / "goroscope.yaml"
    p.write_text(
        """
discovery: {timezone: Europe/Berlin, series_pattern: '^(?P<series>[^/]+)/'}
signature: {wrappers: [github.com/acme/pool...]}
rank: {stuck_min_minutes: 10}
ignore: {any_function: [github.com/acme/debug...]}
acknowledged:
  - {fingerprint: abc123, until: 2027-01-31, note: known}
render: {page_size: Letter, redact_labels: [tenant], path_map: {/go/src/github.com/acme/app/: ""}}
"""
    )
    cfg = load_config(p)
    assert cfg.discovery.timezone == "Europe/Berlin"
    assert cfg.signature.wrappers == ("github.com/acme/pool...",)
    assert cfg.rank.stuck_min_minutes == 10.0
    assert cfg.acknowledged[0].until == date(2027, 1, 31)
    assert cfg.render.path_map == (("/go/src/github.com/acme/app/", ""),)
    assert cfg.path == str(p)


@pytest.mark.parametrize(
    "text, key",
    [
        ("discovery: {timezon: UTC}", "discovery.timezon"),
        ("rank: {min_tau: high}", "rank.min_tau"),
        ("render: {page_size: A5}", "render.page_size"),
        ("discovery: {timezone: Mars/Olympus}", "discovery.timezone"),
        ("discovery: {series_pattern: '(['}", "discovery.series_pattern"),
        ("acknowledged: [{fingerprint: x, until: soon}]", "acknowledged[0].until"),
        ("colour: red", "colour"),
        ("signature: {vendor_is_app: 3}", "signature.vendor_is_app"),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path, text, key):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in e.value.message
    assert key in e.value.message


def test_not_yaml(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_digest_changes_only_with_signature_settings():
    a = config_from_dict({})
    b = config_from_dict({"rank": {"min_tau": 0.9}})
    c = config_from_dict({"signature": {"vendor_is_app": False}})
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()
