"""A moto server with the mirrorlab emulation (tests/moto_ext) loaded, in its own process.

    python tests/moto_ext/server.py PORT [CREATE_DELAY] [DELETE_DELAY]

Run as a separate process so that the emulation never leaks into other tests' in-process
moto (the conftest `moto_server` fixture). Prints "ready" once it accepts requests.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import moto_ext  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


def main(argv):
    port = int(argv[1])
    create_delay = float(argv[2]) if len(argv) > 2 else 0.0
    delete_delay = float(argv[3]) if len(argv) > 3 else create_delay
    moto_ext.install(create_delay=create_delay, delete_delay=delete_delay)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv)
