"""posturewatch.store"""
