"""Container HEALTHCHECK: exit 0 when every URL given answers 2xx within 4 s, else 1.

A script rather than `python -c "..."` because podman 4.3's Docker-API layer re-splits
healthcheck arguments on spaces; plain arguments survive every engine.
"""

import sys
import urllib.request

try:
    for url in sys.argv[1:]:
        with urllib.request.urlopen(url, timeout=4) as response:
            if not 200 <= response.status < 300:
                sys.exit(1)
except Exception as exc:
    print(f"unhealthy: {exc}")
    sys.exit(1)
