"""A moto server with the mirrorlab emulation (tests/moto_ext) loaded, in its own process.

    python tests/moto_ext/server.py PORT [CREATE_DELAY] [DELETE_DELAY] [--netns NAME ADDRESS:PORT]

Run as a separate process so that the emulation never leaks into other tests' in-process
moto (the conftest `moto_server` fixture). Prints "ready" once it accepts requests.

It listens on 127.0.0.1:PORT. With --netns (the SSM rig, tests/ssm) the same server (one moto
state) also listens on ADDRESS:PORT inside the network namespace NAME (/run/netns/NAME), where
the rig's lab machines and the controller reach it; nothing is opened anywhere else.
"""

import ctypes
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import moto_ext  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

CLONE_NEWNET = 0x40000000


def serve_in_netns(netns, address, port):
    """Start a second listener inside a network namespace, sharing this process's moto state.

    Only the calling thread enters the namespace (setns(2) acts per thread); the listener's
    thread is created there and keeps it, the first listener stays on the host's loopback."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")
        server = ThreadedMotoServer(ip_address=address, port=port, verbose=False)
        server.start()
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(target)
        os.close(home)
    return server


def main(argv):
    args = list(argv[1:])
    netns = None
    if "--netns" in args:
        index = args.index("--netns")
        netns = args[index + 1], args[index + 2]
        del args[index:index + 3]
    port = int(args[0])
    create_delay = float(args[1]) if len(args) > 1 else 0.0
    delete_delay = float(args[2]) if len(args) > 2 else create_delay
    moto_ext.install(create_delay=create_delay, delete_delay=delete_delay)
    servers = [ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)]
    servers[0].start()
    if netns:
        address, ns_port = netns[1].rsplit(":", 1)
        servers.append(serve_in_netns(netns[0], address, int(ns_port)))
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main(sys.argv)
