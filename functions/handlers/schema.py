"""The schema function: CloudFormation's custom resource (the Schema resource), or the local
deploy directly. It migrates MySQL, creates the search index and grants the API's login."""

from typing import Any

from chalicelib.edge import migrate
from chalicelib.wiring import stores
from chalicelib.wiring.observability import entry_point

stores.prepare()


@entry_point
def migrate_schema(event: dict[str, Any], context: Any) -> dict[str, Any]:
    seconds_left = context.get_remaining_time_in_millis() / 1000
    return migrate.handle_custom_resource(
        event, stores.migrate_deps, seconds_left, stores.api_login_from_settings
    )
