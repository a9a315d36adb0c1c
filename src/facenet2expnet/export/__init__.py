"""Export: ONNX with its preprocessing metadata, static int8 quantization, and an onnxruntime runner."""
