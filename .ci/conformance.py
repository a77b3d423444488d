"""Runs the independent SCIM conformance tester scim2-tester against a running server.

Usage: conformance.py BASE_URL TOKEN REPORT_JSON

Prints one line per check (status, resource type, title, and the reason when it did not
succeed), writes every result to REPORT_JSON, and exits 1 when any check ends in ERROR or
CRITICAL (a violated MUST), 0 otherwise. DEVIATION (a SHOULD not followed) is printed and
counted but does not fail the run.
"""

import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base_url, token, report = sys.argv[1], sys.argv[2], sys.argv[3]
    client = SyncSCIMClient(
        Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    )
    results = check_server(client)
    counts: dict[str, int] = {}
    rows = []
    for r in results:
        counts[r.status.name] = counts.get(r.status.name, 0) + 1
        rows.append(
            {
                "status": r.status.name,
                "resource_type": r.resource_type,
                "title": r.title,
                "tags": sorted(r.tags),
                "reason": r.reason,
            }
        )
        line = f"{r.status.name:<10} {r.resource_type or '-':<8} {r.title}"
        if r.status not in (Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE):
            line += f" :: {r.reason}"
        print(line)
    with open(report, "w") as f:
        json.dump({"counts": counts, "checks": rows}, f, indent=2)
    print("scim2-tester:", json.dumps(counts, sort_keys=True))
    failed = counts.get("ERROR", 0) + counts.get("CRITICAL", 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
