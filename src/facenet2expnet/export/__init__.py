"""Export: ONNX with its preprocessing metadata (``onnx_export``), faster max pooling (``onnx_rewrite``) and static
int8 quantization calibrated on face crops (``onnx_quantize``)."""
