"""End-to-end fixtures: HTTP against the API that `make up` deployed into LocalStack."""

import uuid

import pytest
import requests

from tests.leaks import check_errors


class Api:
    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        # (method, path, status, text), checked for internals after each test
        self.answers: list[tuple[str, str, int, str]] = []

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.session.request(method, self.base_url + path, timeout=30, **kwargs)
        self.answers.append((method, path[:200], response.status_code, response.text))
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="session")
def api(stack_outputs) -> Api:
    return Api(stack_outputs["ApiUrl"])


@pytest.fixture(autouse=True)
def no_internals_in_error_answers(request):
    """Every error answer of every e2e test: no ARN, host, SQL, trace or internal id."""
    if "api" not in request.fixturenames:
        yield
        return
    api = request.getfixturevalue("api")
    api.answers.clear()
    yield
    check_errors(api.answers)


@pytest.fixture
def application(api) -> dict:
    """A new application of its own for each test (tokens keep tests apart)."""
    response = api.post("/applications", json={"name": f"test-{uuid.uuid4().hex[:8]}"})
    assert response.status_code == 201, response.text
    return response.json()
