"""The services `make up` started are the real things, on loopback, where the README says."""
import json
import os
import urllib.request

import redis
from elasticsearch import Elasticsearch

ES_URL = os.environ["ELASTICSEARCH_URL"]


def test_elasticsearch_is_a_real_elasticsearch_8():
    with urllib.request.urlopen(ES_URL + "/") as response:
        assert response.headers["X-elastic-product"] == "Elasticsearch"
        assert json.load(response)["version"]["number"].startswith("8.")
    assert Elasticsearch(ES_URL).info()["version"]["number"].startswith("8.")


def test_redis_answers():
    assert redis.Redis(port=int(os.environ.get("REDIS_PORT", "6379"))).ping()


def test_localstack_serves_lambda_and_sqs():
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    with urllib.request.urlopen(endpoint + "/_localstack/health") as response:
        health = json.load(response)
    assert health["services"]["lambda"] in ("available", "running")
    assert health["services"]["sqs"] in ("available", "running")
