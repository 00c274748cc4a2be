"""What `dicom-bridge serve` has imported when it forks its worker processes: every module imported before the
fork is resident in each worker too (bench/listen_bench.py measures the service's summed RSS), so the network
stacks the workers never use are imported only after it."""

from __future__ import annotations

import json
import subprocess
import sys

# The service's own DICOM listener and SCU, its FHIR client, and its status page, in that order.
NOT_BEFORE_THE_FORK = ("pynetdicom", "httpx", "starlette", "uvicorn", "highdicom")


def imported_after(statement: str) -> dict[str, bool]:
    code = f"import json, sys\n{statement}\nprint(json.dumps({{m: m in sys.modules for m in {NOT_BEFORE_THE_FORK!r}}}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(result.stdout)


def test_the_cli_and_the_service_module_leave_the_network_stacks_to_after_the_fork() -> None:
    found = imported_after("import bridge.cli, bridge.service.runner, bridge.service.work, bridge.service.placement")
    assert found == dict.fromkeys(NOT_BEFORE_THE_FORK, False)


def test_a_worker_builds_without_them() -> None:
    found = imported_after("import bridge.service.work as w; w.warm_up()")
    assert found == dict.fromkeys(NOT_BEFORE_THE_FORK, False)


def test_the_deliverer_imports_the_fhir_client_only_for_a_configured_fhir_server() -> None:
    setup = (
        "from bridge.service.delivery import Deliverer\n"
        "from bridge.settings import DeliverySettings\n"
        "from bridge.store import open_store\n"
        "store = open_store('sqlite://')\n"
    )
    assert not imported_after(setup + "Deliverer(DeliverySettings(), store, 'node')")["httpx"]
    server = "{'name': 'x', 'base_url': 'http://127.0.0.1:9'}"
    with_server = f"Deliverer(DeliverySettings(fhir_servers=[{server}]), store, 'n')"
    assert imported_after(setup + with_server)["httpx"]
