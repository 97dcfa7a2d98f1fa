"""nearpath: hyperconverged iSCSI block storage for Kubernetes.

The repository's top-level folders map into this namespace:

- ``core/``     -> ``nearpath.core``     API models, errors, command runner, settings, logging
- ``operator/`` -> ``nearpath.operator`` the kopf operator (placement, ALUA ownership, failover)
- ``csi/``      -> ``nearpath.csi``      the CSI driver (identity, controller, node)
- ``target/``   -> ``nearpath.target``   the node-local LIO target agent

``operator``, ``csi`` and ``target`` import ``nearpath.core`` and never each other
(``tools/check_layering.py`` enforces it). The folders are namespace packages on
purpose: a regular top-level package named ``operator`` would shadow the standard library.
"""

__version__ = "0.1.0"
