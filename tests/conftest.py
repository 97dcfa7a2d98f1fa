"""Root conftest: the test-bed fixtures are available to every tier.

``control_plane``/``kubectl`` (real kube-apiserver + etcd + controller-manager) come from
``tests.fixtures.controlplane``; the VM fixtures (qemu guests booting Debian's kernel) from
``tests.fixtures.vm``. Both skip with a clear reason where their test bed cannot run.
"""

pytest_plugins = ["tests.fixtures.controlplane", "tests.fixtures.vm"]
