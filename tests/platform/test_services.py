"""The services `make up` started are the real things, on loopback, where the README says."""

import json
import os
import urllib.request

import redis
from elasticsearch import Elasticsearch

from local.stack import config

ES_URL = os.environ["ELASTICSEARCH_URL"]


def test_elasticsearch_is_a_real_elasticsearch_8():
    with urllib.request.urlopen(ES_URL + "/") as response:
        assert response.headers["X-elastic-product"] == "Elasticsearch"
        assert json.load(response)["version"]["number"].startswith("8.")
    assert Elasticsearch(ES_URL).info()["version"]["number"].startswith("8.")


def test_redis_answers():
    assert redis.Redis(port=int(os.environ.get("REDIS_PORT", "6379"))).ping()


def test_the_websocket_gateway_answers_its_health_check():
    with urllib.request.urlopen(f"http://127.0.0.1:{config.load().wsgate_port}/_wsgate/health") as response:
        assert json.load(response)["status"] == "ok"


def test_localstack_serves_lambda_and_sqs():
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    with urllib.request.urlopen(endpoint + "/_localstack/health") as response:
        health = json.load(response)
    assert health["services"]["lambda"] in ("available", "running")
    assert health["services"]["sqs"] in ("available", "running")


def _listening(proc_file: str) -> list:
    """(address hex, port) of each listening TCP socket in /proc/net/tcp or tcp6."""
    with open(proc_file) as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return [
        (local.split(":")[0], int(local.split(":")[1], 16))
        for _, local, _, state, *_ in rows
        if state == "0A"
    ]


def test_every_service_listens_on_loopback_only():
    ports = {
        int(os.environ.get(name, default))
        for name, default in [
            ("MYSQL_PORT", "3306"),
            ("REDIS_PORT", "6379"),
            ("ES_PORT", "9200"),
            ("ES_TRANSPORT_PORT", "9300"),
            ("LOCALSTACK_PORT", "4566"),
        ]
    } | {config.load().wsgate_port}
    loopback = {
        "0100007F",
        "0000000000000000FFFF00000100007F",  # 127.0.0.1, also as IPv6
        "00000000000000000000000001000000",
    }  # ::1
    bound = [
        (address, port)
        for name in ("/proc/net/tcp", "/proc/net/tcp6")
        for address, port in _listening(name)
        if port in ports
    ]
    assert {port for _, port in bound} == ports  # each one is up
    assert [(a, p) for a, p in bound if a not in loopback] == []
