"""A TCP proxy that delays every piece of data by a fixed time each way: a server that far away.

Put in front of an SMTP server, it turns loopback into a relay `2 × delay` milliseconds of round
trip away, so that tests and benchmarks see what sessions and pipelining are worth on a real
network. It also counts the client's turns: how often the client spoke after the server had,
which is the number of round trips the client waited for.

In a test: `with DelayProxy(server_port, delay=0.02) as proxy: …` (a thread of its own). For a
benchmark, as its own process so it takes no CPU from what is measured:
    python -m tests.delay_proxy --to 2525 --delay-ms 20      (prints the port it listens on)
"""

import argparse
import asyncio
import contextlib
import threading


class DelayProxy:
    def __init__(self, target_port: int, delay: float, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.delay = delay
        self.port = 0
        self.turns = 0  # client writes that followed data from the server
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def __enter__(self) -> "DelayProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "DelayProxy":
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(serve(self, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.close()


async def serve(proxy: DelayProxy, host: str, port: int) -> asyncio.base_events.Server:
    async def accepted(client_reader, client_writer):
        proxy.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*proxy.target)
        except OSError:
            client_writer.close()
            return
        spoke = {"server": False}
        await asyncio.gather(
            pump(proxy, client_reader, server_writer, spoke, from_client=True),
            pump(proxy, server_reader, client_writer, spoke, from_client=False),
        )

    return await asyncio.start_server(accepted, host, port)


async def pump(proxy, reader, writer, spoke: dict, from_client: bool) -> None:
    """Forward what `reader` gives to `writer`, each piece `delay` seconds after it came."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    async def forward():
        with contextlib.suppress(OSError):  # the receiving side hung up: nothing to deliver to
            while (item := await queue.get()) is not None:
                due, data = item
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
                await writer.drain()
        writer.close()

    forwarding = asyncio.ensure_future(forward())
    with contextlib.suppress(OSError):  # the sending side hung up: what came is still forwarded
        while data := await reader.read(65536):
            if from_client and spoke["server"]:
                proxy.turns += 1
            spoke["server"] = not from_client
            queue.put_nowait((loop.time() + proxy.delay, data))
    queue.put_nowait(None)
    await forwarding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", type=int, required=True, help="the server's port on 127.0.0.1")
    parser.add_argument("--delay-ms", type=float, required=True, help="each way")
    parser.add_argument("--port", type=int, default=0)
    arguments = parser.parse_args()
    proxy = DelayProxy(arguments.to, arguments.delay_ms / 1000)

    async def run():
        server = await serve(proxy, "127.0.0.1", arguments.port)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
