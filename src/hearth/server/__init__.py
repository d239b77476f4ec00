"""`hearth serve`: the FastAPI app with the Ollama, OpenAI and hearth APIs and the web UI."""
