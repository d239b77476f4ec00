"""hearth.client"""
