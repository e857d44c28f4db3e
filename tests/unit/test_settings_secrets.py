"""Settings.secret_values: every secret the process knows, whichever way it was given."""

from bot.core.settings import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_the_private_key_counts_when_it_comes_from_the_key_file(tmp_path, rsa_private_key_pem):
    key = tmp_path / "app.pem"
    key.write_text(rsa_private_key_pem)
    kinds = settings(
        github_private_key_path=key, webhook_secret="hook-secret"
    ).secret_values_by_kind()
    assert kinds["app_private_key"] == [rsa_private_key_pem]
    assert kinds["webhook_secret"] == ["hook-secret"]
    assert rsa_private_key_pem in settings(github_private_key_path=key).secret_values()


def test_an_unreadable_key_file_gives_no_key_and_no_error(tmp_path):
    assert (
        "app_private_key"
        not in settings(github_private_key_path=tmp_path / "missing.pem").secret_values_by_kind()
    )


def test_the_database_password_and_server_url_are_secrets():
    url = "postgresql+psycopg://bot:p%40ss-word@db.internal:5432/farcaster"
    assert settings(database_url=url).secret_values_by_kind()["database"] == [
        "p@ss-word",
        "p%40ss-word",
        url,
    ]
    no_password = "postgresql+psycopg://bot@db.internal/farcaster"
    assert settings(database_url=no_password).secret_values() == [no_password]


def test_a_sqlite_file_name_is_not_a_secret():
    assert settings(database_url="sqlite:///farcaster.db").secret_values() == []
