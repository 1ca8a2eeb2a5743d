"""uvicorn's httptools protocol, answering what it cannot parse with the API's JSON errors.

httptools parses URLs with 16-bit offsets, so a URL over 64 KiB fails inside the parser, before any
middleware sees the request, and uvicorn answers a plain-text 400. Here the URL's length is checked as
it arrives (nothing past the limit is kept) and the answer is the documented JSON 414; other parser
errors are a JSON 400."""

from __future__ import annotations

import json

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .middleware import MAX_URL_BYTES


class _UrlTooLong(Exception):
    pass


class JSONErrorsHttpProtocol(HttpToolsProtocol):
    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > MAX_URL_BYTES:
            raise _UrlTooLong
        super().on_url(url)

    def data_received(self, data: bytes) -> None:
        try:
            self._unset_keepalive_if_required()
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # as uvicorn does
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            if isinstance(exc.__cause__ or exc.__context__, _UrlTooLong):
                self._send_error(414, "url", f"url: longer than {MAX_URL_BYTES} bytes")
            else:
                self.logger.warning("Invalid HTTP request received.")
                self._send_error(400, "request", "request: not a valid HTTP/1.1 request")

    def _send_error(self, status: int, field: str, message: str) -> None:
        body = json.dumps({"error": {"field": field, "message": message}}).encode()
        reason = {400: b"Bad Request", 414: b"URI Too Long"}[status]
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
