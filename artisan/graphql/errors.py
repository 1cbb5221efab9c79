"""The GraphQL API's errors: what a client did wrong is told to it in graph-node's words; what
went wrong here is masked for the client, logged once, and given an id both sides see."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg.errors

from artisan.errors import ArtisanError


class QueryError(ArtisanError):
    """A query the API refuses (a bad filter, a limit, a block not indexed): its message is
    the client's to read, unmasked."""


TIMED_OUT = (
    "Query timed out: a statement ran past the API's statement timeout. Narrow `where`, ask"
    " for fewer rows, or page with a `...Connection` cursor"
)


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """A statement timeout is the client's to read ("Query timed out"), and so is a value the
    database refuses (a data exception); anything else stays unexpected (masked). Either ends
    the request's snapshot: ``Session`` answers its later fields with the same reason."""
    try:
        yield
    except psycopg.errors.QueryCanceled:
        raise QueryError(TIMED_OUT) from None
    except psycopg.DataError as exc:
        reason = (exc.diag.message_primary or str(exc)).strip()
        raise QueryError(f"The database refused a value of this query: {reason}") from None
