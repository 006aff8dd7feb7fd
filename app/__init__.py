"""posturewatch.app"""
