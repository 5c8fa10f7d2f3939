"""Cursor pagination by id, newest first: pages stay correct while rows arrive.

Every list is ordered by `-id`, a unique key that only grows: a page's `next` link carries the id of its
last row and asks for the rows below it, so rows created meanwhile (higher ids) never shift a page or repeat
a row; they are on the first page (follow `previous` from the first page you read, or start again). No
COUNT(*) is run: a page costs the same on a table of a hundred rows as on one of ten million.
"""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

BAD_CURSOR = "'cursor' is not a cursor of ours: use a `next` or `previous` link as given"


class IdCursorPagination(CursorPagination):
    ordering = "-id"
    page_size_query_param = "limit"
    page_size = 50
    max_page_size = 200
    page_size_query_description = "Rows per page: 1 to 200 (default 50)."
    cursor_query_description = "Where the page starts: the cursor of a `next` or `previous` link, as given."

    def get_page_size(self, request):
        """`limit`, or the default; anything but a whole number in range is a 400 naming it."""
        given = request.query_params.get(self.page_size_query_param)
        if given is None or given == "":
            return self.page_size
        try:
            size = int(given)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(f"'limit' must be a whole number from 1 to {self.max_page_size}, not {given[:20]!r}")
        return size

    def decode_cursor(self, request):
        """The cursor of a link we gave; anything else (edited, truncated) is a 400 naming it, not a 404 or 500."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:  # DRF's answer to a cursor it cannot read
            raise ValidationError(BAD_CURSOR) from exc
        if cursor is not None and cursor.position is not None and not cursor.position.isdigit():
            raise ValidationError(BAD_CURSOR)
        return cursor
