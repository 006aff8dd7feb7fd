"""posturewatch.analytics"""
