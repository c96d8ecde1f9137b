"""The CloudSat DPC password: from the environment, ~/.netrc or a hidden prompt, never from an option.

The library routes are checked one by one; the CLI routes log in to a real SFTP server on loopback
(``cloudbench download --dry-run`` lists the DPC's folders, which needs the login), so a password
that went missing on the way to paramiko fails the test.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cloudbench.cli import cli, download_cmd, main
from cloudbench.errors import CredentialsError
from cloudbench.sources.credentials import DPC_PASSWORD_ENV, DPC_USER_ENV, dpc_credentials

from .conftest import DPC_PASSWORD, DPC_USER

HOST = "dpc.example.org"


def _netrc(tmp_path, host=HOST, login="nuser", password="n-pw-5521"):
    path = tmp_path / "netrc"
    path.write_text(f"machine {host} login {login} password {password}\n")
    path.chmod(0o600)
    return path


def test_environment_gives_user_and_password(tmp_path):
    creds = dpc_credentials(env={DPC_USER_ENV: "u1", DPC_PASSWORD_ENV: "env-pw-1"}, host=HOST,
                            netrc_path=_netrc(tmp_path))
    assert (creds.username, creds.password.reveal(), creds.origin) == ("u1", "env-pw-1", DPC_PASSWORD_ENV)
    assert "env-pw-1" not in repr(creds)


def test_option_user_wins_over_environment_user():
    creds = dpc_credentials("opt-user", env={DPC_USER_ENV: "u1", DPC_PASSWORD_ENV: "pw"}, host=HOST)
    assert creds.username == "opt-user"


def test_netrc_entry_of_the_host(tmp_path):
    creds = dpc_credentials(env={}, host=HOST, netrc_path=_netrc(tmp_path))
    assert (creds.username, creds.password.reveal(), creds.origin) == ("nuser", "n-pw-5521", "netrc")
    assert dpc_credentials("nuser", env={}, host=HOST, netrc_path=_netrc(tmp_path)).origin == "netrc"
    # another user's entry is not used for this user, nor another host's entry
    with pytest.raises(CredentialsError):
        dpc_credentials("someone-else", env={}, host=HOST, netrc_path=_netrc(tmp_path))
    with pytest.raises(CredentialsError):
        dpc_credentials(env={}, host="other.host", netrc_path=_netrc(tmp_path))


def test_prompt_only_when_nothing_else_and_a_user_is_known(tmp_path):
    asked = []

    def prompt(question):
        asked.append(question)
        return "typed-pw-9"

    creds = dpc_credentials("u2", env={}, host=HOST, netrc_path=tmp_path / "absent", prompt=prompt)
    assert (creds.password.reveal(), creds.origin) == ("typed-pw-9", "prompt")
    assert asked == [f"CloudSat DPC password for u2 at {HOST}"]
    dpc_credentials("u2", env={DPC_PASSWORD_ENV: "pw"}, host=HOST, prompt=prompt)
    dpc_credentials(env={}, host=HOST, netrc_path=_netrc(tmp_path), prompt=prompt)
    assert len(asked) == 1  # the environment and netrc come first
    with pytest.raises(CredentialsError, match="user and password"):
        dpc_credentials(env={}, host=HOST, netrc_path=tmp_path / "absent", prompt=prompt)
    assert len(asked) == 1  # no user: nothing to ask a password for


def test_missing_says_every_way_to_give_it(tmp_path):
    with pytest.raises(CredentialsError) as info:
        dpc_credentials("u3", env={}, host=HOST, netrc_path=tmp_path / "absent")
    text = str(info.value)
    assert DPC_PASSWORD_ENV in text and "~/.netrc" in text and f"machine {HOST}" in text and "terminal" in text
    with pytest.raises(CredentialsError, match="no CloudSat DPC user"):
        dpc_credentials(env={DPC_PASSWORD_ENV: "pw"}, host=HOST, netrc_path=tmp_path / "absent")


def test_password_option_is_gone(capsys):
    with pytest.raises(SystemExit) as info:
        main(["download", "--help"])
    assert info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--dpc-password" not in help_text and "--dpc-user" in help_text
    with pytest.raises(SystemExit) as info:
        main(["download", "--start", "2018-10-01", "--end", "2018-10-02", "--region", "paper", "--imager",
              "himawari", "--labels", "cldclass-lidar", "--out", "x", "--dpc-password", "leaked-pw"])
    assert info.value.code == 1 and "--dpc-password" in capsys.readouterr().err


def _args(tmp_path, sftp_server, s3_server):
    return ["download", "--start", "2018-10-01", "--end", "2018-10-02", "--region", "paper", "--imager",
            "himawari", "--labels", "cldclass-lidar", "--out", str(tmp_path / "archive"), "--dry-run",
            "--no-progress", "--s3-endpoint", s3_server.endpoint, "--dpc-host", sftp_server.host,
            "--dpc-port", str(sftp_server.port)]


@pytest.fixture
def no_dpc_env(tmp_path, monkeypatch):
    for var in (DPC_USER_ENV, DPC_PASSWORD_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.mark.usefixtures("no_dpc_env")
def test_cli_logs_in_with_the_environment(tmp_path, sftp_server, s3_server, monkeypatch, capsys):
    monkeypatch.setenv(DPC_USER_ENV, DPC_USER)
    monkeypatch.setenv(DPC_PASSWORD_ENV, DPC_PASSWORD)
    with pytest.raises(SystemExit) as info:
        main(_args(tmp_path, sftp_server, s3_server))
    out, err = capsys.readouterr()
    assert info.value.code == 0, err
    assert "label granules: 0" in out and sftp_server.logins_refused == 0


@pytest.mark.usefixtures("no_dpc_env")
def test_cli_logs_in_with_netrc(tmp_path, sftp_server, s3_server, monkeypatch, capsys):
    netrc = _netrc(tmp_path, host=sftp_server.host, login=DPC_USER, password=DPC_PASSWORD)
    monkeypatch.setenv("NETRC", str(netrc))
    with pytest.raises(SystemExit) as info:
        main(_args(tmp_path, sftp_server, s3_server))
    assert info.value.code == 0, capsys.readouterr().err
    assert sftp_server.logins_refused == 0
    # a wrong password in netrc reaches the server and is refused: exit 1, the fix, no password shown
    netrc.write_text(f"machine {sftp_server.host} login {DPC_USER} password wrong-pw-31\n")
    with pytest.raises(SystemExit) as info:
        main(_args(tmp_path, sftp_server, s3_server))
    err = capsys.readouterr().err
    assert info.value.code == 1 and "refused" in err and "wrong-pw-31" not in err
    assert sftp_server.logins_refused >= 1


@pytest.mark.usefixtures("no_dpc_env")
def test_cli_without_a_terminal_does_not_wait_for_a_password(tmp_path, sftp_server, s3_server, capsys):
    with pytest.raises(SystemExit) as info:
        main([*_args(tmp_path, sftp_server, s3_server), "--dpc-user", DPC_USER])  # stdin is not a terminal here
    err = capsys.readouterr().err
    assert info.value.code == 1 and DPC_PASSWORD_ENV in err and "~/.netrc" in err


@pytest.mark.usefixtures("no_dpc_env")
def test_cli_asks_at_a_terminal_with_hidden_input(tmp_path, sftp_server, s3_server, monkeypatch):
    monkeypatch.setattr(download_cmd, "_interactive", lambda: True)
    result = CliRunner().invoke(cli, [*_args(tmp_path, sftp_server, s3_server), "--dpc-user", DPC_USER],
                                input=DPC_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert f"CloudSat DPC password for {DPC_USER}" in result.output
    assert DPC_PASSWORD not in result.output  # hidden input is not echoed
    assert sftp_server.logins_refused == 0


def _private_key(path):
    import paramiko

    rsa = paramiko.RSAKey.generate(2048)
    rsa.write_private_key_file(str(path))
    return rsa


def test_key_file_replaces_the_password(tmp_path):
    key_path = tmp_path / "id_dpc"
    _private_key(key_path)
    creds = dpc_credentials("u4", env={DPC_PASSWORD_ENV: "pw"}, host=HOST, key_file=key_path)
    assert (creds.key_file, creds.password, creds.origin) == (key_path, None, "--dpc-key")
    creds = dpc_credentials(env={DPC_USER_ENV: "u4", "CLOUDSAT_DPC_KEY": str(key_path)}, host=HOST)
    assert creds.key_file == key_path and creds.origin == "CLOUDSAT_DPC_KEY"
    with pytest.raises(CredentialsError, match="not found"):
        dpc_credentials("u4", env={}, host=HOST, key_file=tmp_path / "absent-key")


@pytest.mark.usefixtures("no_dpc_env")
def test_cli_logs_in_with_an_ssh_key(tmp_path, sftp_root, s3_server, capsys):
    from cloudbench.sources.local_servers import SftpServer

    key_path = tmp_path / "id_dpc"
    key = _private_key(key_path)
    with SftpServer(sftp_root, DPC_USER, "unused-password-77", authorized_keys=[key]) as server:
        with pytest.raises(SystemExit) as info:
            main([*_args(tmp_path, server, s3_server), "--dpc-user", DPC_USER, "--dpc-key", str(key_path)])
        assert info.value.code == 0, capsys.readouterr().err
        assert server.logins_refused == 0
        other = tmp_path / "other_key"
        _private_key(other)  # a key the server does not know
        with pytest.raises(SystemExit) as info:
            main([*_args(tmp_path, server, s3_server), "--dpc-user", DPC_USER, "--dpc-key", str(other)])
        assert info.value.code == 1 and "refused" in capsys.readouterr().err
        assert server.logins_refused >= 1
