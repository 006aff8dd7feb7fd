"""posturewatch.ingest"""
