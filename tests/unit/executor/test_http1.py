"""The executor's pure HTTP/1.1 core: request bytes, response framing in any pieces, refusals."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.executor.core.http1 import (
    MAX_BODY,
    MAX_CHUNK_LINE,
    MAX_HEAD,
    Headers,
    HttpError,
    Response,
    ResponseParser,
    encode_request,
)

BODY = b'{"retCode":0,"retMsg":"OK","result":{"orderId":"1","orderLinkId":"a-1"},"retExtInfo":{},"time":1}'

CONTENT_LENGTH = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Bapi-Limit: 10\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Bapi-Limit-Status: 9\r\n\r\n"
    b"5;name=value\r\nhello\r\n"
    b"1\r\n \r\n"
    b"A ; ext\r\n0123456789\r\n"
    b"0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n"
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n" + CONTENT_LENGTH
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nX-Bapi-Limit: 10\r\n\r\n"
NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n"
EMPTY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
CLOSE = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy"
UNTIL_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY

#: What the parser must make of CONTENT_LENGTH (and of CONTINUE: the interim 100 leaves no trace).
CONTENT_LENGTH_RESPONSE = Response(
    200,
    Headers(
        [
            ("Content-Type", "application/json"),
            ("X-Bapi-Limit", "10"),
            ("Content-Length", str(len(BODY))),
        ]
    ),
    BODY,
    True,
)

#: Responses framed without the end of the connection, each with what the parser must make of it.
FRAMED: dict[str, tuple[bytes, Response]] = {
    "content-length": (CONTENT_LENGTH, CONTENT_LENGTH_RESPONSE),
    "chunked": (
        CHUNKED,
        Response(
            200,
            Headers([("Transfer-Encoding", "chunked"), ("X-Bapi-Limit-Status", "9")]),
            b"hello 0123456789",
            True,
        ),
    ),
    "continue": (CONTINUE, CONTENT_LENGTH_RESPONSE),
    "no-content": (NO_CONTENT, Response(204, Headers([("X-Bapi-Limit", "10")]), b"", True)),
    "not-modified": (NOT_MODIFIED, Response(304, Headers([("Content-Length", "12")]), b"", True)),
    "empty": (EMPTY, Response(200, Headers([("Content-Length", "0")]), b"", True)),
    "close": (
        CLOSE,
        Response(503, Headers([("Connection", "close"), ("Content-Length", "4")]), b"busy", False),
    ),
}


def same(a: Response, b: Response) -> bool:
    key = (a.status, dict(a.headers), a.body, a.keep_alive)
    return key == (b.status, dict(b.headers), b.body, b.keep_alive)


def parse(pieces: list[bytes], *, eof: bool = False) -> tuple[list[Response], ResponseParser]:
    """Feed ``pieces`` one by one; every response that completes, in order (then the close's)."""
    p = ResponseParser()
    out = []
    for piece in pieces:
        resp = p.feed(piece)
        # a piece holding the end of one response and the start of the next: feed b"" to go on
        while resp is not None:
            out.append(resp)
            resp = p.feed(b"") if not p.idle else None
    if eof:
        last = p.eof()
        if last is not None:
            out.append(last)
    return out, p


def one(raw: bytes) -> Response:
    got, p = parse([raw])
    assert len(got) == 1 and p.idle
    return got[0]


# --- framing -----------------------------------------------------------------------------------


def test_content_length_body() -> None:
    resp = one(CONTENT_LENGTH)
    assert resp.status == 200 and resp.body == BODY and resp.keep_alive
    assert resp.headers["content-type"] == "application/json"


def test_chunked_with_extensions_and_trailers() -> None:
    resp = one(CHUNKED)
    assert resp.body == b"hello 0123456789"
    assert resp.keep_alive
    assert "X-Trailer" not in resp.headers  # trailers are read past, not merged


@pytest.mark.parametrize("name", sorted(FRAMED))
def test_each_response_split_anywhere_parses_the_same(name: str) -> None:
    raw, want = FRAMED[name]
    assert same(one(raw), want)
    for i in range(len(raw) + 1):
        got, p = parse([raw[:i], raw[i:]])
        assert len(got) == 1 and same(got[0], want), i
        assert p.idle
    got, p = parse([raw[i : i + 1] for i in range(len(raw))])  # byte by byte
    assert len(got) == 1 and same(got[0], want) and p.idle


def test_until_close_split_anywhere_parses_the_same() -> None:
    want = Response(200, Headers([("Content-Type", "application/json")]), BODY, False)
    for i in range(len(UNTIL_CLOSE) + 1):
        got, _ = parse([UNTIL_CLOSE[:i], UNTIL_CLOSE[i:]], eof=True)
        assert len(got) == 1 and same(got[0], want), i


def test_until_close_split_point_of_a_head_never_completes_early() -> None:
    for i in range(len(UNTIL_CLOSE)):
        got, _ = parse([UNTIL_CLOSE[:i]])
        assert got == []


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Response], list[int]]:
    """Several framed responses back to back (maybe one read to the close last), and cut points."""
    names = draw(st.lists(st.sampled_from(sorted(FRAMED)), min_size=1, max_size=4))
    # a Connection: close response must be the last one on a connection
    if "close" in names:
        names = [n for n in names if n != "close"] + ["close"]
    raws = [FRAMED[n][0] for n in names]
    wants = [FRAMED[n][1] for n in names]
    if "close" not in names and draw(st.booleans()):
        raws.append(UNTIL_CLOSE)
        wants.append(Response(200, Headers([("Content-Type", "application/json")]), BODY, False))
    raw = b"".join(raws)
    cuts = draw(st.lists(st.integers(0, len(raw)), max_size=12))
    return raw, wants, sorted(cuts)


@settings(max_examples=300, deadline=None)
@given(streams())
def test_random_splits_of_a_stream(case: tuple[bytes, list[Response], list[int]]) -> None:
    raw, wants, cuts = case
    bounds = [0, *cuts, len(raw)]
    pieces = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    got, _ = parse(pieces, eof=True)
    assert len(got) == len(wants)
    assert all(same(g, w) for g, w in zip(got, wants, strict=True))


def test_100_continue_is_skipped() -> None:
    p = ResponseParser()
    assert p.feed(b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n") is None
    resp = p.feed(CONTENT_LENGTH)
    assert resp is not None and resp.status == 200 and "X-Interim" not in resp.headers


@pytest.mark.parametrize("status", [101, 102, 103, 199])
def test_other_interim_responses_are_refused(status: int) -> None:
    with pytest.raises(HttpError, match="interim"):
        ResponseParser().feed(f"HTTP/1.1 {status} Whatever\r\n\r\n".encode() + CONTENT_LENGTH)


def test_204_has_no_body_and_the_next_response_follows() -> None:
    got, p = parse([NO_CONTENT + CONTENT_LENGTH])
    assert [r.status for r in got] == [204, 200]
    assert got[0].body == b"" and got[1].body == BODY and p.idle


def test_no_content_length_reads_the_body_to_the_close() -> None:
    p = ResponseParser()
    assert p.feed(UNTIL_CLOSE[:-5]) is None
    assert p.feed(UNTIL_CLOSE[-5:]) is None  # no framing: only the close ends it
    resp = p.eof()
    assert resp is not None and resp.body == BODY and not resp.keep_alive and p.idle


def test_until_close_with_keep_alive_requested_is_still_not_kept() -> None:
    p = ResponseParser()
    assert p.feed(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nab") is None
    resp = p.eof()
    assert resp is not None and resp.body == b"ab" and not resp.keep_alive


@pytest.mark.parametrize(
    "partial",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Le", CONTENT_LENGTH[:-1], CHUNKED[:-2]],
    ids=["nothing", "head", "content-length body", "chunked trailer"],
)
def test_close_before_a_framed_response_is_complete_gives_nothing(partial: bytes) -> None:
    p = ResponseParser()
    assert p.feed(partial) is None
    assert p.eof() is None


@pytest.mark.parametrize(
    ("head", "keep"),
    [
        (b"HTTP/1.1 200 OK\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
        (b"HTTP/1.1 200 OK\r\nconnection: Close\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n", True),
        (b"HTTP/1.0 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: close\r\n", False),
    ],
)
def test_keep_alive(head: bytes, keep: bool) -> None:
    resp = one(head + b"Content-Length: 2\r\n\r\nok")
    assert resp.keep_alive is keep and resp.body == b"ok"


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "GZIP"])
def test_content_coding_is_refused(coding: str) -> None:
    with pytest.raises(HttpError, match="content-coding"):
        ResponseParser().feed(
            f"HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: 2\r\n\r\n".encode()
        )


def test_identity_content_coding_is_accepted() -> None:
    assert one(b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\nok").body == b"ok"


@pytest.mark.parametrize("coding", ["gzip", "gzip, chunked", "compress", "identity"])
def test_unknown_transfer_coding_is_refused(coding: str) -> None:
    with pytest.raises(HttpError, match="transfer-coding"):
        ResponseParser().feed(f"HTTP/1.1 200 OK\r\nTransfer-Encoding: {coding}\r\n\r\n".encode())


@pytest.mark.parametrize(
    "line",
    [
        b"garbage",
        b"HTTP/2 200 OK",
        b"HTTP/1.1",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 abc OK",
        b"HTTP/1.1  200 OK",
        b"ICY 200 OK",
        b"",
    ],
)
def test_bad_status_line_is_refused(line: bytes) -> None:
    with pytest.raises(HttpError, match="status line"):
        ResponseParser().feed(line + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    "line",
    [b"NoColon", b": no name", b"Name : space before the colon", b" Folded: line", b"\tTab: x"],
)
def test_bad_header_line_is_refused(line: bytes) -> None:
    with pytest.raises(HttpError, match="header line"):
        ResponseParser().feed(b"HTTP/1.1 200 OK\r\n" + line + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "2, 2"])
def test_bad_content_length_is_refused(value: str) -> None:
    with pytest.raises(HttpError, match="Content-Length"):
        ResponseParser().feed(f"HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\n".encode())


@pytest.mark.parametrize("size", [b"zz", b"-1", b"", b"; ext only", b"1 2"])
def test_bad_chunk_size_is_refused(size: bytes) -> None:
    with pytest.raises(HttpError, match="chunk size"):
        ResponseParser().feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\n")


def test_chunk_without_its_crlf_is_refused() -> None:
    with pytest.raises(HttpError, match="CRLF"):
        ResponseParser().feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY")


def test_head_without_end_above_the_limit_is_refused() -> None:
    p = ResponseParser()
    p.feed(b"HTTP/1.1 200 OK\r\nX-Big: ")
    with pytest.raises(HttpError, match="head too large"):
        for _ in range(MAX_HEAD // 1024 + 1):
            p.feed(b"x" * 1024)


def test_head_above_the_limit_is_refused_even_in_one_piece() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * MAX_HEAD + b"\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(HttpError, match="head too large"):
        ResponseParser().feed(head)
    p = ResponseParser()  # ... or in two, the second holding the end of the head
    p.feed(head[:MAX_HEAD])
    with pytest.raises(HttpError, match="head too large"):
        p.feed(head[MAX_HEAD:])


def test_head_of_exactly_the_limit_is_accepted_however_it_is_split() -> None:
    status = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: "
    head = status + b"x" * (MAX_HEAD - len(status))
    assert len(head) == MAX_HEAD
    raw = head + b"\r\n\r\nok"
    for cut in range(MAX_HEAD - 4, MAX_HEAD + 6):
        got, _ = parse([raw[:cut], raw[cut:]])
        assert len(got) == 1 and got[0].body == b"ok", cut


def test_long_chunk_size_line_is_refused_however_it_arrives() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    line = b"2;" + b"e" * 2000 + b"\r\nok\r\n0\r\n\r\n"
    with pytest.raises(HttpError, match="chunk size line"):
        ResponseParser().feed(head + line)
    p = ResponseParser()
    p.feed(head + line[:100])
    with pytest.raises(HttpError, match="chunk size line"):
        p.feed(line[100:])


def test_chunk_size_line_of_exactly_the_limit_is_accepted_however_it_is_split() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    line = b"2;" + b"e" * (MAX_CHUNK_LINE - 2)
    raw = head + line + b"\r\nok\r\n0\r\n\r\n"
    start = len(head) + MAX_CHUNK_LINE
    for cut in range(start - 4, start + 6):
        got, _ = parse([raw[:cut], raw[cut:]])
        assert len(got) == 1 and got[0].body == b"ok", cut


def test_body_above_the_limit_is_refused() -> None:
    with pytest.raises(HttpError, match="Content-Length"):
        ResponseParser().feed(f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode())
    with pytest.raises(HttpError, match="body too large"):
        ResponseParser().feed(
            f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{MAX_BODY + 1:x}\r\n".encode()
        )
    p = ResponseParser()  # chunks that add up to too much
    p.feed(f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{MAX_BODY:x}\r\n".encode())
    p.feed(b"x" * MAX_BODY + b"\r\n")
    with pytest.raises(HttpError, match="body too large"):
        p.feed(b"1\r\n")
    p = ResponseParser()  # read to the close
    p.feed(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * MAX_BODY)
    with pytest.raises(HttpError, match="body too large"):
        p.feed(b"x")


def test_body_of_exactly_the_limit_is_accepted() -> None:
    p = ResponseParser()
    p.feed(f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY}\r\n\r\n".encode())
    resp = p.feed(b"x" * MAX_BODY)
    assert resp is not None and len(resp.body) == MAX_BODY


# --- connection use ----------------------------------------------------------------------------


def test_bytes_after_a_complete_response_leave_the_parser_not_idle() -> None:
    p = ResponseParser()
    resp = p.feed(CONTENT_LENGTH + b"HTTP/1.1 2")
    assert resp is not None and resp.body == BODY
    assert not p.idle


def test_idle_only_before_anything_of_a_response() -> None:
    p = ResponseParser()
    assert p.idle
    p.feed(b"H")
    assert not p.idle
    p.reset()
    assert p.idle
    assert p.feed(EMPTY) is not None and p.idle


def test_two_responses_in_sequence_on_one_parser() -> None:
    p = ResponseParser()
    first = p.feed(CONTENT_LENGTH)
    assert first is not None and p.idle
    second = p.feed(CHUNKED)
    assert second is not None and second.body == b"hello 0123456789" and p.idle
    # both in one piece: the second is parsed from what stayed buffered
    p = ResponseParser()
    first = p.feed(CHUNKED + CONTENT_LENGTH)
    assert first is not None and first.body == b"hello 0123456789" and not p.idle
    second = p.feed(b"")
    assert second is not None and second.body == BODY and p.idle


def test_reset_drops_a_partial_response() -> None:
    p = ResponseParser()
    p.feed(CHUNKED[:60])
    p.reset()
    assert p.idle
    resp = p.feed(CONTENT_LENGTH)
    assert resp is not None and same(resp, one(CONTENT_LENGTH)) and p.idle


# --- headers -----------------------------------------------------------------------------------


def test_headers_are_case_insensitive() -> None:
    h = Headers([("X-Bapi-Limit", "10"), ("content-type", "application/json")])
    assert h["x-bapi-limit"] == h["X-BAPI-LIMIT"] == "10"
    assert h.get("Content-Type") == "application/json"
    assert h.get("missing") is None and h.get("Missing", "d") == "d"
    assert "x-BAPI-limit" in h and "missing" not in h
    assert not h.__contains__(1)  # a non-string is never a header name
    with pytest.raises(KeyError):
        h["missing"]
    assert len(h) == 2 and sorted(h) == ["content-type", "x-bapi-limit"]
    assert dict(h) == {"x-bapi-limit": "10", "content-type": "application/json"}


def test_repeated_header_keeps_the_last() -> None:
    resp = one(b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n")
    assert resp.headers["X-A"] == "2" and len(resp.headers) == 2


def test_header_values_are_stripped() -> None:
    resp = one(b"HTTP/1.1 200 OK\r\nX-A:   padded \t\r\nX-B:\r\nContent-Length:2\r\n\r\nok")
    assert resp.headers["X-A"] == "padded" and resp.headers["X-B"] == "" and resp.body == b"ok"


# --- requests ----------------------------------------------------------------------------------


def test_encode_post_request_exact_bytes() -> None:
    body = b'{"category":"linear","symbol":"BTCUSDT"}'
    raw = encode_request(
        "POST",
        "api.bybit.com",
        "/v5/order/create",
        [("Content-Type", "application/json"), ("X-BAPI-SIGN", "abc")],
        body,
    )
    assert raw == (
        b"POST /v5/order/create HTTP/1.1\r\n"
        b"Host: api.bybit.com\r\n"
        b"Content-Type: application/json\r\n"
        b"X-BAPI-SIGN: abc\r\n"
        b"Content-Length: 40\r\n"
        b"\r\n" + body
    )


def test_encode_get_request_has_no_content_length() -> None:
    raw = encode_request("GET", "127.0.0.1:8080", "/v5/market/time?a=1", [("User-Agent", "t")], None)
    assert raw == b"GET /v5/market/time?a=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: t\r\n\r\n"


def test_encode_empty_body_says_so() -> None:
    raw = encode_request("POST", "h", "/p", [], b"")
    assert raw == b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    "header",
    [("X-A", "v\r\nX-Injected: 1"), ("X-A", "v\n"), ("X-A", "v\r"), ("X-A\r\nX-B", "v"), ("X\n", "v")],
)
def test_encode_refuses_cr_or_lf_in_a_header(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="CR/LF"):
        encode_request("POST", "h", "/p", [header], b"{}")


@pytest.mark.parametrize("size", [b"0x1a", b"+1a", b"1_a", b"-1", b" ", b"1 a"])
def test_chunk_sizes_are_hex_digits_only(size: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    with pytest.raises(HttpError):
        ResponseParser().feed(head + size + b"\r\n" + b"x" * 26 + b"\r\n0\r\n\r\n")


@pytest.mark.parametrize("length", ["+5", "-5", "5 5", "0x5", "5a"])
def test_content_length_is_decimal_digits_only(length: str) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()
    with pytest.raises(HttpError):
        ResponseParser().feed(head + b"hello")
