pytest_plugins = ["tests.fix_data", "tests.fix_ingest", "tests.fix_scratch", "tests.fix_stream"]
