"""The complete Transformer system of the lecture: the hidden reference the autograder grades against.

One module per idea; every module runs on CPU and CUDA, in float32 and bfloat16.
"""
