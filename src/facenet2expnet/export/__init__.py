"""Export: ONNX with its preprocessing metadata, and an onnxruntime runner."""
