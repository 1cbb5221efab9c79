"""Test doubles and generators, imported only by tests, benchmarks and the demo.

``fake_chain`` (a scripted chain source with forks and faults), ``synthetic`` and
``synthetic_actions`` (realistic protocol histories), ``seed`` (writes them into an event
store), ``onnx_models`` (small real ONNX models built at run time).
"""
