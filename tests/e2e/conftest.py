"""End-to-end fixtures: HTTP against the API that `make up` deployed into LocalStack."""

import uuid

import pytest
import requests


class Api:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)


@pytest.fixture(scope="session")
def api(stack_outputs) -> Api:
    return Api(stack_outputs["ApiUrl"])


@pytest.fixture
def application(api) -> dict:
    """A new application of its own for each test (tokens keep tests apart)."""
    response = api.post("/applications", json={"name": f"test-{uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201, response.text
    return response.json()
