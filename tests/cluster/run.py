"""``make test-cluster``: bring the cluster test bed up, run ``tests/e2e`` against it, tear it down.

Usage: python -m tests.cluster.run [--nodes N] [--keep] [-- pytest args...]
The e2e suite installs ``charts/nearpath`` with ``helm`` (values: tests/cluster/bed.py
``values_yaml``: images, sizes, timeouts) exactly as on any other cluster. Prints the time of
every bring-up step; the e2e cases print their own measured figures (``[e2e] {...}``).
Exit code: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from tests.cluster.bed import REPO, SHARED_DEVICE, ClusterBed, values_yaml
from tests.e2e.cluster import ENV_IMAGE, ENV_KUBECONFIG, ENV_NAMESPACE, ENV_SC_PARAMETERS, ENV_VALUES

REPRESENTATIVE = ["tests/e2e/test_volume_lifecycle.py"]
FULL = [*REPRESENTATIVE, "tests/e2e/test_node_plugin_restart.py"]


def selection() -> list[str]:
    """The representative case (helm install, PVC -> Pod -> checksummed I/O, same-node target
    loss, expansion, cleanup); every case with NEARPATH_FULL=1 (make test-all)."""
    return FULL if os.environ.get("NEARPATH_FULL") == "1" else REPRESENTATIVE


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--memory-mb", type=int, default=3072)
    parser.add_argument("--keep", action="store_true", help="leave the bed running until Enter is pressed")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    bed = ClusterBed(nodes=args.nodes, memory_mb=args.memory_mb)
    rc = 1
    try:
        t0 = time.monotonic()
        bed.start()
        assert bed.artefacts is not None
        values = bed.workdir / "values.json"
        values.write_text(values_yaml(bed.artefacts))
        env = dict(
            os.environ,
            **{
                ENV_KUBECONFIG: str(bed.kubeconfig),
                ENV_VALUES: str(values),
                ENV_IMAGE: f"nearpath:{bed.artefacts.image_tag}",
                ENV_NAMESPACE: "nearpath-system",
                ENV_SC_PARAMETERS: json.dumps({"backing": "shared", "devices": SHARED_DEVICE}),
            },
        )
        print(f"[cluster-bed] up in {time.monotonic() - t0:.0f} s; kubeconfig {bed.kubeconfig}", flush=True)
        # A TCG cluster is slow: the chart install alone takes minutes (pytest-timeout's default is 900 s).
        cmd = [sys.executable, "-m", "pytest", "-m", "e2e", "-s", "-p", "no:cacheprovider", "--timeout=3600"]
        cmd += args.pytest_args or selection()
        rc = subprocess.run(cmd, cwd=REPO, env=env, check=False).returncode
        if args.keep:
            input(f"bed kept (kubeconfig {bed.kubeconfig}); Enter stops it ")
    except BaseException:
        print(bed.diagnostics(), file=sys.stderr)
        raise
    finally:
        if rc != 0:
            print(bed.diagnostics(), file=sys.stderr)
        print(f"[cluster-bed] timings: {json.dumps(bed.timings)}", flush=True)
        bed.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
