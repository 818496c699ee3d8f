"""The Redis bridge's parts (dyno/bridge.py is its front door: the command, serve(), the
thread the launcher runs it in). From the bytes up:

- resp: the codec, RESP2 and RESP3: encode, the command reader, the reply framer.
- commands: what a command needs (its route) and the session a client sets (HELLO, SELECT).
- subscriptions: when a subscriber's connection is clean again.
- credentials: the plain relay's filter that keeps a client's AUTH from the upstream.
- login, upstream: the bridge's own login; connections to the real Redis (TLS on a socket).
- events: the throttled log lines and the failure count.
- client: a local connection's life, the same in both modes (``ClientRelay``).
- plain: one upstream connection per client.
- links, pool, mux: the multiplexer's upstream connections, their ceiling, and each
  client's state machine.
- server: ``RedisBridge``, which listens and hands connections to a mode (``Relay``).
"""
