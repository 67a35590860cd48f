"""Models out of the server: ONNX graphs for decoding in the browser, and a static explorer site."""
