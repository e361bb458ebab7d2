"""Elasticsearch adapter: the messages index set up at deploy (the migrate function).

search_index.py defines the index (analysis, mapping, routing, versions behind the alias).
"""

from elasticsearch import ApiError, Elasticsearch, TransportError

from ...domain.errors import Unavailable
from .search_index import ADDED_FIELDS, MAPPINGS, UNAVAILABLE, index_body, version_name

# Creating an index waits for its shards to start: on a node that just started on a loaded machine
# that took longer than the API's 3 s (a failed `make up`), and the migrate function has minutes.
REQUEST_TIMEOUT_SECONDS = 40


class IndexSchema:
    def __init__(self, client: Elasticsearch, index: str, shards: int = 1):
        self._es = client.options(request_timeout=REQUEST_TIMEOUT_SECONDS)
        self._index = index
        self._shards = shards

    def ensure_index(self) -> bool:
        """Creates the first version behind the alias unless the alias (or an index of that name,
        from before aliases) exists, which gets the ADDED_FIELDS instead; True if it was created."""
        try:
            if self._es.indices.exists(index=self._index):
                added = {field: MAPPINGS["properties"][field] for field in ADDED_FIELDS}
                self._es.indices.put_mapping(index=self._index, properties=added)
                return False
            self._es.indices.create(
                index=version_name(self._index, 1), aliases={self._index: {}}, **index_body(self._shards)
            )
            return True
        except ApiError as exc:
            if exc.meta.status == 400 and "resource_already_exists" in str(exc):
                return False
            raise Unavailable(f"could not create the search index: {exc}") from exc
        except TransportError as exc:
            raise Unavailable(UNAVAILABLE) from exc
