"""``clove serve`` configuration: every flag documented, clear one-line errors, exit status 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from clove.cli.main import main
from clove.server.config import SETTINGS, build, resolve
from server.serve_process import serve_command, serve_environment


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for setting in SETTINGS:
        assert setting.flag in text
        assert setting.variable in text
    assert "--config" in text


@pytest.mark.parametrize(
    ("arguments", "environment", "message"),
    [
        ([], {"CLOVE_KEYS": ""}, "no client keys"),
        (["--grpc-addr", "0.0.0.0:50051"], {}, "not loopback"),
        (["--tls-cert", "x.pem"], {}, "both --tls-cert and --tls-key"),
        (["--key-file", "/no/such/file"], {}, "cannot read key file"),
        ([], {"CLOVE_KEYS": "alice"}, "is not `client=key`"),
        ([], {"CLOVE_KEYS": "alice=short"}, "shorter than 16"),
        ([], {"CLOVE_WORKERS": "zero"}, "bad value for --workers"),
        (["--grpc-addr", "nowhere"], {}, "is not HOST:PORT"),
        (["--db", "ftp://x"], {}, "unsupported database URL"),
        (["--http-addr", "127.0.0.1:50051"], {}, "--grpc-addr and --http-addr are both"),
        ([], {"CLOVE_COST_RATE": "-1"}, "bad value for --cost-rate: -1 is not a positive number"),
        ([], {"CLOVE_MAX_CAVEAT_COST": "0"}, "bad value for --max-caveat-cost"),
    ],
)
def test_configuration_errors_are_one_line(
    arguments: list[str], environment: dict[str, str], message: str, tmp_path: Path
) -> None:
    env = serve_environment()
    env.update(environment)
    result = subprocess.run(
        serve_command("--db", f"sqlite://{tmp_path}/x.db", "--http-addr", "off", *arguments),
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")


def test_bad_flag_values_name_the_kind_of_value_wanted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--cost-rate", "nan"])
    assert "invalid positive number value: 'nan'" in capsys.readouterr().err


def test_flags_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\ngrpc_addr = "127.0.0.1:1111"\nworkers = 3\nburst = 7\n')
    keys = tmp_path / "keys"
    keys.write_text("# clients\nalice = alice-key-0123456789\n\nbob=bob-key-0123456789\n")
    monkeypatch.setenv("CLOVE_WORKERS", "5")
    monkeypatch.delenv("CLOVE_KEYS", raising=False)
    flags = {setting.name: None for setting in SETTINGS}
    flags["key_file"] = str(keys)
    flags["burst"] = 9
    built = build(resolve(flags, config_file=str(config)))
    assert built.grpc_addr == "127.0.0.1:1111"
    assert built.workers == 5
    assert built.limits.burst == 9
    assert {client: key.key for client, key in built.keys.items()} == {
        "alice": "alice-key-0123456789",
        "bob": "bob-key-0123456789",
    }


def test_unknown_config_file_settings_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text("grpc_adr = '127.0.0.1:1'\n")
    flags = {setting.name: None for setting in SETTINGS}
    with pytest.raises(Exception, match="unknown settings grpc_adr"):
        resolve(flags, config_file=str(config))
