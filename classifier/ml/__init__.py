"""Machine-learning code of the classifier: numpy, Keras (training only) and
LiteRT (serving).

TensorFlow reads these settings when it starts, so they are made here, before
any module of this package can import it:
- its C++ start-up chatter is not for our users;
- oneDNN kernels on every x86 CPU. TensorFlow turns them on by default only
  on CPUs with AVX-512 VNNI/BF16 or AMX; on an AVX2-only CPU (AMD EPYC Milan,
  2 cores) they train bn-cnn 1.4x and seed-cnn 1.45x faster than its default
  Eigen kernels (`python -m bench.train_kernels`, docs/benchmarks.md). An
  explicit TF_ENABLE_ONEDNN_OPTS=0 still wins.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
