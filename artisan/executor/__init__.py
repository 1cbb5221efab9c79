"""The executor: runs models with ONNX Runtime and measures what each request used.

``store`` (content-addressed assets) ← ``runner`` (sessions, validation, batched runs) ←
``batcher`` (one model's queues and threads) ← ``scheduler`` (admission, per-model routing);
``metering`` turns a batch's measurements into per-request meters; ``models`` builds small
real ONNX models for tests and benchmarks.
"""
