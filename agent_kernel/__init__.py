"""agent-kernel"""
