#!/usr/bin/env bash
# Build llama-cpp-python once per machine (native CPU flags) and cache the wheel outside the repo.
# AMX is turned off: on virtual machines that report AMX without enabling it for user space,
# llama.cpp's AMX kernels crash (seen here: segfault in ggml_backend_amx_mul_mat).
set -euo pipefail
py="$1"; version="$2"
cache="${HEARTH_WHEEL_CACHE:-$HOME/.cache/hearth/wheels}/llama-cpp-python-$version-$(uname -m)-noamx"
if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  flags=""
  if [ "$(uname -m)" = "x86_64" ]; then flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"; fi
  rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
  CMAKE_ARGS="-DCMAKE_C_FLAGS='$flags' -DCMAKE_CXX_FLAGS='$flags' ${CMAKE_ARGS:-}" \
    "$py" -m pip wheel -q --no-cache-dir --no-deps -w "$cache.tmp" "llama-cpp-python==$version"
  rm -rf "$cache"; mv "$cache.tmp" "$cache"
fi
"$py" -m pip install -q --no-deps --force-reinstall "$cache"/llama_cpp_python-*.whl
"$py" -m pip install -q "llama-cpp-python==$version"  # its pure-Python dependencies
