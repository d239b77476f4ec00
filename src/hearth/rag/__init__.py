"""hearth.rag"""
