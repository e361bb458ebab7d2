"""Each function reads only the settings it uses, and its wiring builds only what those allow."""

import pytest

from chalicelib.wiring import settings, stores

VIEWS = [
    settings.ApiSettings,
    settings.WriterSettings,
    settings.CounterSettings,
    settings.MigrateSettings,
    settings.SocketFunctionSettings,
    settings.PushSettings,
    settings.DeliverySettings,
]


def names(view: type) -> set[str]:
    return {f.name for f in settings.fields_of(view)}


def test_every_setting_has_one_reader_and_belongs_to_some_function():
    assert names(settings.Settings) == settings.readable()
    assert set().union(*map(names, VIEWS)) == names(settings.Settings)


def test_the_counter_never_reads_the_search_settings():
    broken = {"ELASTICSEARCH_API_KEY_SECRET_ARN": "not an arn", "SEARCH_TIMEOUT_MS": "x"}
    counter = settings.load(settings.CounterSettings, broken)  # would raise if it read them
    assert not names(settings.CounterSettings) & {"elasticsearch_url", "elasticsearch_api_key_secret_arn"}
    with pytest.raises(settings.SettingsError):
        settings.load(settings.ApiSettings, broken)
    with pytest.raises(TypeError, match="ElasticsearchSettings"):
        stores.build(counter).elasticsearch  # noqa: B018 (the read is the test)


def test_a_view_checks_its_own_variables_as_every_setting_does():
    bad = {"MYSQL_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"}  # TLS off
    for view in VIEWS:
        with pytest.raises(settings.SettingsError, match="MYSQL_TLS"):
            settings.load(view, bad)


@pytest.mark.parametrize(
    ("view", "absent"),
    [
        (settings.WriterSettings, "finder"),
        (settings.CounterSettings, "queue"),
        (settings.MigrateSettings, "limits"),
        (settings.ApiSettings, "index_schema"),
        (settings.SocketFunctionSettings, "finder"),
        (settings.PushSettings, "tokens"),
    ],
)
def test_a_function_cannot_build_an_adapter_it_does_not_use(view, absent):
    with pytest.raises(TypeError, match="not this function's to build"):
        getattr(stores.build(settings.load(view, {})), absent)
