"""`{% board_rows rows %}...{% endboard_rows %}`: the office board's rows, each rendered once
and then reused while nothing in it changes (docs/safety-core.md, "The board is pushed").

The board is fetched again whenever anything changes at the school, and with 1,000 visits
under way rendering every row through the template engine took seconds; between two fetches
almost every row is the same. A row's HTML is kept (per process, the most recent
`KEEP` rows) under a digest of everything it shows: the row's data (board_context puts
every value the row's markup reads into the row, and `row_key` is its digest) and whether
the school list is shown. The one thing in a row that is the reader's own, the CSRF token of
its forms, is cut out before the HTML is kept and put back for each reader.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django import template
from django.template.base import Node, NodeList, Parser, Token

register = template.Library()

KEEP = 5000
_rows: OrderedDict[str, str] = OrderedDict()
_lock = threading.Lock()
TOKEN_SLOT = "\x00csrf\x00"


class BoardRowsNode(Node):
    """Every row of the list, joined by newlines: each kept row's HTML as it was, and the rest
    rendered with `row` set. One Python loop, one look-up in the kept rows and one pass putting
    the reader's CSRF token back for the whole list: with 1,000 rows, a template `for` around a
    tag per row cost as much again as the rows' HTML."""

    def __init__(self, rows: Any, nodelist: NodeList) -> None:
        self.rows, self.nodelist = rows, nodelist

    def render(self, context: template.Context) -> str:
        rows = self.rows.resolve(context) or []
        school = bool(context.get("multi_school"))
        token = str(context.get("csrf_token") or "")
        # A row without a key (none made by board_context) is drawn every time.
        keys = [f"{row['row_key']}:{school}" if row.get("row_key") else "" for row in rows]
        with _lock:
            parts = [_rows.get(key, "") if key else "" for key in keys]
            for key, part in zip(keys, parts, strict=True):
                if part:
                    _rows.move_to_end(key)
        drawn: dict[str, str] = {}
        for i, row in enumerate(rows):
            if not parts[i]:
                with context.push(row=row):
                    html = self.nodelist.render(context)
                parts[i] = html.replace(token, TOKEN_SLOT) if token else html
                if keys[i]:
                    drawn[keys[i]] = parts[i]
        if drawn:
            with _lock:
                _rows.update(drawn)
                while len(_rows) > KEEP:
                    _rows.popitem(last=False)
        joined = "\n".join(parts)
        return joined.replace(TOKEN_SLOT, token) if token else joined


@register.tag
def board_rows(parser: Parser, token: Token) -> BoardRowsNode:
    """{% board_rows rows %} ... {% endboard_rows %}: the markup between, for each row as `row`."""
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("board_rows takes one argument: the rows")
    nodelist = parser.parse(("endboard_rows",))
    parser.delete_first_token()
    return BoardRowsNode(parser.compile_filter(bits[1]), nodelist)
