"""The bridge's pure parts: RESP encoding, the hidden login, the plain relay's filter of the
client's own credentials, the listen address and the upstream URL source."""

from __future__ import annotations

import itertools
import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appwrite_heroku.config.redis import parse_redis_url
from appwrite_heroku.dyno.bridge import UPSTREAM_ENV, parse_listen, upstream_from
from appwrite_heroku.dyno.redis.commands import Hello, parse_hello, parse_select, valid_name
from appwrite_heroku.dyno.redis.credentials import CredentialFilter
from appwrite_heroku.dyno.redis.login import (
    HandshakeError,
    NotTls,
    TlsClosed,
    TlsUnanswered,
    describe_failure,
    handshake_commands,
    parse_handshake_replies,
    upstream_error_reply,
)
from appwrite_heroku.dyno.redis.resp import encode_command
from appwrite_heroku.errors import InputError
from helpers import CANARY_REDIS_PASSWORD

UNWATCH = encode_command(b"UNWATCH")


def feed(chunks: list[bytes]) -> tuple[bytes, CredentialFilter]:
    """What the plain relay sends upstream for each chunk a client sends, and the filter."""
    credentials = CredentialFilter()
    return b"".join(credentials.feed(chunk) for chunk in chunks), credentials


# -- encoding and the login -------------------------------------------------------------------

def test_encode_command_is_a_resp_array_of_bulk_strings() -> None:
    expected = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"
    assert encode_command(b"SET", b"k", b"a\r\nb") == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("rediss://h:p%40ss@host:1", [encode_command(b"AUTH", b"h", b"p@ss")]),
    ("rediss://:secret@host:1", [encode_command(b"AUTH", b"secret")]),
    ("redis://host:1", []),
    ("redis://host:1/0", []),
    ("redis://:pw@host:1/3", [encode_command(b"AUTH", b"pw"),
                              encode_command(b"SELECT", b"3")]),
    ("redis://host:1/5", [encode_command(b"SELECT", b"5")]),
])
def test_handshake_matches_the_url(url: str, expected: list[bytes]) -> None:
    assert handshake_commands(parse_redis_url(url, "REDIS_URL")) == expected


def test_handshake_replies_complete_partial_and_refused() -> None:
    assert parse_handshake_replies(b"+OK\r\n+OK\r\n", 2) == 10
    assert parse_handshake_replies(b"+OK\r\n+O", 2) is None
    assert parse_handshake_replies(b"", 1) is None
    with pytest.raises(HandshakeError, match="WRONGPASS invalid"):
        parse_handshake_replies(b"-WRONGPASS invalid username-password pair\r\n", 1)
    with pytest.raises(HandshakeError, match="DB index"):
        parse_handshake_replies(b"+OK\r\n-ERR DB index is out of range\r\n", 2)
    with pytest.raises(HandshakeError, match="does not speak"):
        parse_handshake_replies(b"HTTP/1.1 400 Bad Request\r\n", 1)


# -- the client's own AUTH / HELLO --------------------------------------------------------------
# A well-formed AUTH goes upstream as UNWATCH, whose +OK (in the AUTH's place among the
# replies) is what the client gets; the bridge's own login stays in force.

def test_leading_auth_becomes_unwatch_and_a_client_with_credentials_stays_followed() -> None:
    stream = (encode_command(b"AUTH", b"client-pw") + encode_command(b"AUTH", b"u", b"p")
              + encode_command(b"GET", b"k") + encode_command(b"AUTH", b"late"))
    forwarded, credentials = feed([stream])
    assert forwarded == UNWATCH + UNWATCH + encode_command(b"GET", b"k") + UNWATCH
    assert b"client-pw" not in forwarded and b"late" not in forwarded
    assert credentials.active and credentials.credentials


def test_auth_with_a_wrong_number_of_arguments_gets_the_upstreams_error() -> None:
    """It authenticates nothing: relayed for Redis' own arity error."""
    stream = encode_command(b"AUTH") + encode_command(b"auth", b"a", b"b", b"c")
    assert feed([stream])[0] == stream


def test_hello_loses_its_auth_but_keeps_the_rest() -> None:
    hello = encode_command(b"HELLO", b"3", b"AUTH", b"user", b"pw", b"SETNAME", b"app")
    forwarded, credentials = feed([hello + encode_command(b"PING")])
    assert forwarded == encode_command(b"HELLO", b"3", b"SETNAME", b"app") + encode_command(
        b"PING")
    assert credentials.credentials
    plain = encode_command(b"hello", b"2")
    assert feed([plain])[0] == plain


def test_inline_auth_is_replaced_and_inline_commands_pass() -> None:
    forwarded, _ = feed([b"AUTH pw\r\nPING\r\n"])
    assert forwarded == UNWATCH + encode_command(b"PING")  # as RESP, which Redis takes too


def test_an_incomplete_auth_waits_for_more_bytes() -> None:
    whole = encode_command(b"AUTH", b"secret")
    credentials = CredentialFilter()
    assert credentials.feed(whole[:7]) == b""
    assert credentials.feed(whole[7:9]) == b""  # the name is whole: AUTH, still held
    assert credentials.feed(whole[9:]) == UNWATCH


def test_a_large_first_command_is_forwarded_at_once() -> None:
    big = encode_command(b"SET", b"k", b"x" * 200_000)
    forwarded, credentials = feed([big[:1000]])  # even before the rest of it arrived
    assert forwarded == big[:1000] and not credentials.active


def test_garbage_is_left_for_the_upstream_to_answer() -> None:
    for data in (b"*x\r\n", b"*1\r\n:5\r\n", b"*-1\r\n", b"*1\r\n$-3\r\n"):
        forwarded, credentials = feed([data])
        assert forwarded == data and not credentials.active
    # After a credential too: what follows it, as it came.
    auth = encode_command(b"AUTH", b"pw")
    assert feed([auth, b"*1\r\n:5\r\n"])[0] == UNWATCH + b"*1\r\n:5\r\n"


_word = st.binary(min_size=1, max_size=12).filter(lambda b: b.upper() not in (b"AUTH", b"HELLO"))
_command = st.lists(st.binary(max_size=20), max_size=4).flatmap(
    lambda rest: _word.map(lambda name: encode_command(name, *rest)))
_auth = st.lists(st.binary(max_size=20), min_size=1, max_size=2).map(
    lambda creds: encode_command(b"AUTH", *creds))


@settings(max_examples=300, deadline=None)
@given(auths=st.lists(_auth, max_size=3), commands=st.lists(_command, min_size=1, max_size=5),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_any_split_of_the_stream_gives_the_same_result(
    auths: list[bytes], commands: list[bytes], cuts: list[int],
) -> None:
    stream = b"".join(auths) + b"".join(commands)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]
    forwarded, _ = feed(chunks)
    assert forwarded == UNWATCH * len(auths) + b"".join(commands)


# -- errors, addresses, configuration ---------------------------------------------------------

def test_upstream_error_reply_is_one_resp_error_line() -> None:
    reply = upstream_error_reply("db.example:6380", "connection\r\nrefused")
    assert reply == b"-ERR bridge: upstream unavailable (db.example:6380): connection refused\r\n"


@pytest.mark.parametrize(("error", "text"), [
    (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
    (TimeoutError(), "no answer in time"),
    (HandshakeError("WRONGPASS invalid username-password pair"), "login refused: WRONGPASS"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS failed"),
    (__import__("socket").gaierror(-2, "Name or service not known"), "cannot resolve"),
    (UnicodeError("label empty or too long"), "cannot resolve"),
    (TlsClosed(established=False), "closed the connection during the TLS handshake: most "
                                   "often the plan's client limit (maxclients)"),
    (TlsClosed(established=True), "right after the TLS handshake"),
    (TlsUnanswered(), "TLS failed: no answer to the TLS handshake in time (a plain (non-TLS) "
                      "Redis? then use a redis:// URL instead of rediss://)"),
    (NotTls("x"), "TLS failed: the server answered in plain text"),
])
def test_failures_are_described_briefly(error: BaseException, text: str) -> None:
    assert text in describe_failure(error)


@pytest.mark.parametrize("value", ["127.0.0.1:6379", "localhost:1", "[::1]:7000",
                                   "127.0.0.2:65535"])
def test_loopback_listen_addresses_are_accepted(value: str) -> None:
    host, port = parse_listen(value)
    assert host in ("127.0.0.1", "localhost", "::1", "127.0.0.2") and 0 < port <= 65535


@pytest.mark.parametrize("value", ["127.0.0.1:0", "localhost:65536", "[::1]:", "127.0.0.1:1_0",
                                   "127.0.0.1:" + "9" * 5000])
def test_listen_ports_outside_1_to_65535_are_refused(value: str) -> None:
    with pytest.raises(InputError, match="port from 1 to 65535"):
        parse_listen(value)


@pytest.mark.parametrize("value", ["0.0.0.0:6379", "10.1.2.3:6379", "example.com:6379", "[::]:1"])
def test_non_loopback_listen_addresses_are_refused(value: str) -> None:
    with pytest.raises(InputError, match="not a loopback address"):
        parse_listen(value)


@pytest.mark.parametrize("value", ["6379", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"])
def test_malformed_listen_addresses_are_refused(value: str) -> None:
    with pytest.raises(InputError, match="HOST:PORT"):
        parse_listen(value)


def test_upstream_comes_from_the_argument_or_the_environment() -> None:
    url = f"rediss://:{CANARY_REDIS_PASSWORD}@db.example:6380/2"
    from_env = upstream_from(None, {UPSTREAM_ENV: url})
    assert (from_env.source, from_env.host, from_env.port, from_env.db, from_env.tls) == (
        UPSTREAM_ENV, "db.example", 6380, 2, True)
    assert upstream_from(url, {}).source == "--upstream"
    with pytest.raises(InputError, match=UPSTREAM_ENV):
        upstream_from(None, {})
    with pytest.raises(InputError) as caught:
        upstream_from(None, {UPSTREAM_ENV: f"http://:{CANARY_REDIS_PASSWORD}@x"})
    assert CANARY_REDIS_PASSWORD not in str(caught.value)


# -- AUTH after the first commands ------------------------------------------------------------


def followed(chunks: list[bytes]) -> bytes:
    """What goes upstream for ``chunks`` from a client that authenticated first (phpredis:
    AUTH at connect, then again on a pooled socket it hands out again)."""
    credentials = CredentialFilter()
    assert credentials.feed(encode_command(b"AUTH", b"pw")) == UNWATCH
    return b"".join(credentials.feed(chunk) for chunk in chunks)


def test_a_later_auth_becomes_unwatch_in_its_place() -> None:
    """phpredis's reuse of a pooled socket: ECHO, then AUTH, then commands; the credentials
    never reach the upstream and the stand-in's +OK comes in the AUTH's place."""
    echo, get = encode_command(b"ECHO", b"x"), encode_command(b"GET", b"k")
    auth = encode_command(b"auth", b"user", CANARY_REDIS_PASSWORD.encode())
    assert followed([echo, auth + get]) == echo + UNWATCH + get
    assert followed([echo + auth + get]) == echo + UNWATCH + get
    out = followed([get[:5], get[5:] + auth])  # the first command began in an earlier read
    assert out == get + UNWATCH and CANARY_REDIS_PASSWORD.encode() not in out
    # However the socket cuts a pipeline of large values around it (an AUTH in a read that
    # begins and ends inside other commands): never relayed.
    big = encode_command(b"SET", b"k", b"v" * 5000)
    stream = big + auth + big
    out = followed([stream[:100], stream[100:-100], stream[-100:]])
    assert out == big + UNWATCH + big


def test_a_later_hello_loses_its_auth_clause_and_bad_arity_auth_goes_as_is() -> None:
    hello = encode_command(b"HELLO", b"3", b"AUTH", b"u", b"p", b"SETNAME", b"n")
    ping = encode_command(b"PING")
    assert followed([ping, hello]) == ping + encode_command(b"HELLO", b"3", b"SETNAME", b"n")
    odd = encode_command(b"AUTH", b"a", b"b", b"c")
    assert followed([ping, odd]) == ping + odd


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=6),
       st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_values_that_look_like_auth_are_never_touched(values: list[bytes], cuts: list[int],
                                                      ) -> None:
    """A value holding an AUTH command's bytes is data: however the stream is cut into
    reads, a stream without a real AUTH is forwarded byte for byte."""
    fake = encode_command(b"AUTH", b"x")
    stream = b"".join(encode_command(b"SET", b"k", fake + v + fake) for v in values)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]
    assert followed(chunks) == stream


def test_only_first_commands_with_credentials_keep_the_filter_on() -> None:
    """A client that never authenticates pays nothing for the filter after its first
    command: it is relayed without a look."""
    ping = encode_command(b"PING")
    assert not feed([ping])[1].active
    assert feed([encode_command(b"AUTH", b"p") + ping])[1].active
    assert feed([encode_command(b"HELLO", b"3", b"AUTH", b"u", b"p") + ping])[1].active
    assert not feed([encode_command(b"HELLO", b"3") + ping])[1].active
    assert feed([b"AUTH pw\r\nPING\r\n"])[1].active


# -- the session a client sets (multiplexed mode keeps it per client) ---------------------------


@pytest.mark.parametrize(("args", "expected"), [
    ([b"HELLO"], Hello(None, None, [b"HELLO"])),
    ([b"hello", b"3"], Hello(3, None, [b"HELLO", b"3"])),
    ([b"HELLO", b"2", b"auth", b"u", b"p", b"SETNAME", b"app"],
     Hello(2, b"app", [b"HELLO", b"2"])),
    # Redis' own words (src/networking.c helloCommand); nothing changes with them
    ([b"HELLO", b"x"], b"-ERR Protocol version is not an integer or out of range\r\n"),
    ([b"HELLO", b"4"], b"-NOPROTO unsupported protocol version\r\n"),
    ([b"HELLO", b"3", b"AUTH", b"u"], b"-ERR Syntax error in HELLO option 'AUTH'\r\n"),
    ([b"HELLO", b"3", b"SETNAME", b"a b"],
     b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
])
def test_hello_is_read_as_redis_reads_it(args: list[bytes], expected: object) -> None:
    assert parse_hello(args) == expected


def test_select_and_client_names() -> None:
    assert parse_select([b"SELECT", b"3"]) == 3
    for refused in ([b"SELECT"], [b"SELECT", b"x"], [b"SELECT", b"1", b"2"]):
        assert parse_select(refused) is None  # forwarded for the upstream's own error
    assert valid_name(b"app-1_x") and valid_name(b"")
    assert not valid_name(b"a b") and not valid_name(b"a\nb") and not valid_name("é".encode())
