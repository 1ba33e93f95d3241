"""The frozen config object and its VECCLF_* parsing."""

import dataclasses

import pytest

from vecclf.service.config import Config
from vecclf.training.errors import ConfigError


def test_defaults_are_sensible():
    """An empty environment gives the documented defaults."""
    c = Config.from_env({})
    assert (c.store, c.port, c.workers, c.max_texts, c.poll_interval, c.admin_token) == ("models", 8000, 2, 1000, 2.0, None)


def test_env_values_are_parsed():
    """Every VECCLF_* variable lands in its typed field."""
    c = Config.from_env({"VECCLF_STORE": "/srv/models", "VECCLF_MODELS": "sentiment, topics,", "VECCLF_PORT": "9000",
                         "VECCLF_WORKERS": "4", "VECCLF_POLL_INTERVAL": "0.5", "VECCLF_ACCESS_LOG": "off",
                         "VECCLF_ADMIN_TOKEN": "x" * 20, "VECCLF_MAX_BODY_BYTES": "1000", "OTHER": "ignored"})
    assert c.store == "/srv/models" and c.models == ("sentiment", "topics") and c.port == 9000 and c.workers == 4
    assert c.poll_interval == 0.5 and c.access_log is False and c.admin_token == "x" * 20 and c.max_body_bytes == 1000


def test_feedback_settings_are_parsed():
    """The feedback and review-queue variables land in their fields; the defaults store no live text."""
    assert (Config().feedback, Config().feedback_token, Config().review_sample, Config().database_url) == \
        (True, None, 0.0, None)
    c = Config.from_env({"VECCLF_FEEDBACK": "off", "VECCLF_FEEDBACK_TOKEN": "t" * 16, "VECCLF_REVIEW_SAMPLE": "0.05",
                         "VECCLF_REVIEW_BELOW": "0.6", "VECCLF_DATABASE_URL": "postgresql://u@h/db"})
    assert (c.feedback, c.feedback_token, c.review_sample, c.review_below, c.database_url) == \
        (False, "t" * 16, 0.05, 0.6, "postgresql://u@h/db")


def test_config_is_frozen():
    """A config cannot be changed after it is built."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().port = 1


@pytest.mark.parametrize("env,words", [
    ({"VECCLF_PORT": "eighty"}, "VECCLF_PORT must be an integer"),
    ({"VECCLF_PORT": "70000"}, "at most 65535"),
    ({"VECCLF_WORKERS": "0"}, "VECCLF_WORKERS must be a positive integer"),
    ({"VECCLF_MAX_TEXTS": "-1"}, "VECCLF_MAX_TEXTS"),
    ({"VECCLF_POLL_INTERVAL": "soon"}, "VECCLF_POLL_INTERVAL must be a number"),
    ({"VECCLF_POLL_INTERVAL": "-2"}, "VECCLF_POLL_INTERVAL"),
    ({"VECCLF_ACCESS_LOG": "maybe"}, "VECCLF_ACCESS_LOG"),
    ({"VECCLF_LOG_LEVEL": "LOUD"}, "VECCLF_LOG_LEVEL"),
    ({"VECCLF_ADMIN_TOKEN": "short"}, "at least 16"),
    ({"VECCLF_FEEDBACK_TOKEN": "short"}, "VECCLF_FEEDBACK_TOKEN must be at least 16"),
    ({"VECCLF_FEEDBACK": "maybe"}, "VECCLF_FEEDBACK must be"),
    ({"VECCLF_REVIEW_SAMPLE": "lots"}, "VECCLF_REVIEW_SAMPLE must be a number from 0 to 1"),
    ({"VECCLF_REVIEW_SAMPLE": "1.5"}, "VECCLF_REVIEW_SAMPLE must be a number from 0 to 1"),
    ({"VECCLF_REVIEW_BELOW": "-0.1"}, "VECCLF_REVIEW_BELOW must be a number from 0 to 1"),
    ({"VECCLF_THREADS": "0"}, "VECCLF_THREADS must be a positive integer"),
    ({"VECCLF_KEEPALIVE": "soon"}, "VECCLF_KEEPALIVE must be an integer"),
    ({"VECCLF_CLIENT_TIMEOUT": "0"}, "VECCLF_CLIENT_TIMEOUT must be a number of seconds above 0"),
    ({"VECCLF_CLIENT_TIMEOUT": "forever"}, "VECCLF_CLIENT_TIMEOUT must be a number"),
])
def test_bad_values_name_the_variable(env, words):
    """A malformed value raises ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=words):
        Config.from_env(env)


def test_slow_client_settings_are_parsed_and_reach_gunicorn():
    """VECCLF_THREADS, VECCLF_CLIENT_TIMEOUT and VECCLF_KEEPALIVE land in the config and in gunicorn's settings."""
    from vecclf.service.serve import gunicorn_settings
    from vecclf.service.worker import SlowClientSafeWorker

    c = Config.from_env({"VECCLF_THREADS": "4", "VECCLF_CLIENT_TIMEOUT": "2.5", "VECCLF_KEEPALIVE": "3"})
    assert (c.threads, c.client_timeout, c.keepalive) == (4, 2.5, 3)
    settings = gunicorn_settings(c)
    assert (settings["threads"], settings["keepalive"]) == (4, 3)
    assert issubclass(settings["worker_class"], SlowClientSafeWorker) and settings["worker_class"].client_timeout == 2.5
