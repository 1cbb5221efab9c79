"""The executor: runs models with ONNX Runtime and measures what each request used.

``assets`` (content-addressed store) ← ``sessions`` (ONNX Runtime sessions, validation,
batched runs) ← ``batcher`` (one model's queues and threads) ← ``scheduler`` (per-model
routing); ``admission`` checks and quotes a request (``estimate``, ``reservations``,
``catalog``, ``signatures``); ``measure`` turns a batch's measurements into per-request
meters; ``engine`` ties a request's way together, ``recorder`` and ``pg_sink`` write results
to the ``outbox``; ``api`` (Starlette), ``wire``, ``tensors`` and ``client`` are the HTTP API.
"""
