"""hearth.tasks"""
