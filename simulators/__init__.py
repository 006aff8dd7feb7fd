"""posturewatch.simulators"""
