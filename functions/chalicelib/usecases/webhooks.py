"""The application token registers, lists, changes and removes its webhook endpoints."""

from ..domain.deliveries import DeadLetter
from ..domain.errors import LimitReached, NotFound
from ..domain.webhooks import MAX_ENDPOINTS, Endpoint, EndpointChange, new_secret
from . import access, identity
from .ports import WebhookAdminDeps

NO_ENDPOINT = "the application has no webhook endpoint with that id"


def register(
    deps: WebhookAdminDeps, token: str, url: str, events: tuple[str, ...], description: str = ""
) -> Endpoint:
    """A new endpoint with a new secret (answered this once, and at each rotation)."""
    app_id = _application_of(deps, token, "edits")
    endpoint = deps.webhook_endpoints.insert(app_id, url, events, description, new_secret(), MAX_ENDPOINTS)
    if endpoint is None:
        raise LimitReached(f"an application may register {MAX_ENDPOINTS} webhook endpoints; remove one first")
    return endpoint


def endpoints(deps: WebhookAdminDeps, token: str) -> list[Endpoint]:
    return deps.webhook_endpoints.of_application(_application_of(deps, token, "reads"))


def endpoint(deps: WebhookAdminDeps, token: str, number: int) -> Endpoint:
    return _found(deps.webhook_endpoints.get(_application_of(deps, token, "reads"), number))


def update(deps: WebhookAdminDeps, token: str, number: int, change: EndpointChange) -> Endpoint:
    app_id = _application_of(deps, token, "edits")
    return _found(deps.webhook_endpoints.update(app_id, number, change))


def remove(deps: WebhookAdminDeps, token: str, number: int) -> None:
    """Deletes the endpoint, its delivery state and its dead letters; nothing more is sent to it."""
    if not deps.webhook_endpoints.delete(_application_of(deps, token, "edits"), number):
        raise NotFound(NO_ENDPOINT)


def rotate_secret(deps: WebhookAdminDeps, token: str, number: int, grace_seconds: int) -> Endpoint:
    """A new secret; the replaced one signs beside it for `grace_seconds` (each delivery then
    carries two signatures), so the receiver can switch without refusing a delivery."""
    app_id = _application_of(deps, token, "edits")
    return _found(deps.webhook_endpoints.rotate_secret(app_id, number, new_secret(), grace_seconds))


# Dead letters a page holds at most: each carries its event (a message body of up to 64 KiB,
# several times that escaped), and an answer must stay under Lambda's 6 MB.
DEAD_LETTERS_PAGE = 10


def dead_letters(deps: WebhookAdminDeps, token: str, after: int, limit: int) -> list[DeadLetter]:
    """The events whose retries ran out, oldest first, paged by id."""
    return deps.dead_letters.of_application(_application_of(deps, token, "reads"), after, limit)


def replay_dead_letter(deps: WebhookAdminDeps, token: str, letter_id: int) -> None:
    """Asks for the event to be sent again (by the delivery function's next sweep, within a
    minute, signed anew with the endpoint's current secrets); asking again sends it again."""
    if not deps.dead_letters.request_replay(_application_of(deps, token, "edits"), letter_id):
        raise NotFound("the application has no dead letter with that id")


def _application_of(deps: WebhookAdminDeps, token: str, kind: str) -> int:
    """The application whose token this is (only the application's backend manages its
    endpoints: a user's token is not found here), once its quota of `kind` allows."""
    caller = identity.identify(deps, token)
    if not caller.is_application:
        raise NotFound("no application has that token")
    access.within_quota(deps, access.application_subject(caller.application_id), kind)
    return caller.application_id


def _found(endpoint: Endpoint | None) -> Endpoint:
    if endpoint is None:
        raise NotFound(NO_ENDPOINT)
    return endpoint
