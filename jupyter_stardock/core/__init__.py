"""Plain domain logic: recipes and their Dockerfile, the app catalog and policy, datasets,
claims and quotas, kernelspecs, outputs folders and archives, build logs, server leases.

No tornado and no docker here (tests/unit/test_layers.py): everything can be tested with
plain data, and the engine and the server are layers above.
"""
