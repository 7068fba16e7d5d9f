"""Home of the pytest plugin tito loads into its test subprocess (see tito/testing.py).

The plugin is a top-level module in this folder, `tito_report_plugin`, so the test process can load it
with `-p tito_report_plugin` from this folder alone, without importing tito from the course tree.
"""
