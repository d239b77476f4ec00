"""hearth.speech"""
