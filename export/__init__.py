"""tessera-export: convert registry models into self-describing tessera ONNX artifacts.

Needs the ``[export]`` extra (torch, transformers, optimum, onnx).
"""

__version__ = "0.1.0"
