"""posturewatch.alerts"""
