"""Loopback ports that a test run keeps to itself.

A port found by binding port 0 and closing the socket is free only at that moment: another test
run on the machine can bind it before our server does, or a test that wants "a port where
nothing listens" can find another run's server there. Here the socket that found the port
stays bound, without listening, until the test process ends. So connections to the port are
refused until a server of ours listens on it (and again once it stops); the kernel hands the
port to no other bind to port 0 nor to an outgoing connection; and no one binds it but a
server of ours given its number.

A server given a `server_port()` binds it with SO_REUSEADDR, as aiosmtpd, runserver,
http.server, Dovecot, Postfix and Exim all do: Linux lets a socket with that option bind a
port held by another one that has it too, as long as that one does not listen.
"""

import socket

HOST = "127.0.0.1"
_held: list[socket.socket] = []  # open until the process ends


def _hold(reuse: bool) -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.bind((HOST, 0))
    _held.append(probe)
    return probe.getsockname()[1]


def server_port() -> int:
    """A port on 127.0.0.1 for a server of ours to listen on (it may stop and listen again)."""
    return _hold(reuse=True)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens, nor will while this run lasts."""
    return _hold(reuse=False)
