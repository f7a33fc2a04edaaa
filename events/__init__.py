"""The sevsync event contract: pydantic models, JSON Schema export and an async publisher."""
