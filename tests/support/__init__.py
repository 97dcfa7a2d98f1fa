"""Test support shared by every tier: one way to do each thing.

- :mod:`tests.support.cache`: where the test beds' binaries live (``~/.cache/nearpath``).
- :mod:`tests.support.chart`: rendering the Helm chart.
"""
