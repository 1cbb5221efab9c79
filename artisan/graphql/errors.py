"""The GraphQL API's errors: what a client did wrong is told to it in graph-node's words; what
went wrong here is masked for the client, logged once, and given an id both sides see."""

from __future__ import annotations

from artisan.errors import ArtisanError


class QueryError(ArtisanError):
    """A query the API refuses (a bad filter, a limit, a block not indexed): its message is
    the client's to read, unmasked."""
