"""Test support shared by every tier: one way to do each thing (``tests/unit/test_test_layout.py``).

- :mod:`~tests.support.manifests`: the VolumeGroup manifest builder.
- :mod:`~tests.support.polling`: ``wait_for``, the one poll helper.
- :mod:`~tests.support.kubectl`: ``run_kubectl``, the one kubectl wrapper.
- :mod:`~tests.support.processes`: ``start_process``/``start_nearpath`` and the one stop rule.
- :mod:`~tests.support.cache` and :mod:`~tests.support.chart`: the test-bed cache, rendering the chart.
- Fakes shared by tiers, each checked against the real part: :mod:`~tests.support.agents` (target
  agents; ``tests/unit/test_agents_contract.py``) and :mod:`~tests.support.backend` (operator stand-in
  for CSI tests, on the fake agents).
- Contract cases run against a fake and the real part: :mod:`~tests.support.kube_contract`
  (FakeKube / kube-apiserver) and :mod:`~tests.support.lio_contract` (FakeLio / the kernel's LIO).
"""
