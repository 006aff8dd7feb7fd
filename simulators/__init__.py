"""posturewatch.simulators: the synthetic wearer (ground truth) and device emulators.

``wearer`` (``simulate``, ``iter_blocks``), ``config`` (``WearerConfig``, ``Realism``),
``recording`` (``write_recording``, ``record``, ``read_truth``) and ``truth`` (the episode
labeler) make up the synthetic wearer; see README.md here. ``devices`` holds the BLE emulators.
"""
