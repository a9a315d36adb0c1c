"""``facenet2expnet serve``: REST API, web page and micro-batching (FastAPI + uvicorn, imported on use)."""
