"""Unit tests of the gssgate Python package (python/gssgate). Hermetic: no KDC, no broker
binary — a fake broker is an in-process gRPC server on a Unix socket, ccaches are built by
ccache_fake.py, assertions are signed here.

    /usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
