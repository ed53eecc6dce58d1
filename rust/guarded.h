// The error convention of rust/shim.cpp's and rust/autograd.cpp's functions: nothing may unwind
// into Rust, so each runs its body through `guarded`, which turns a C++ exception into -1 with
// its message in `error` (libtorch's own text, without the C++ stack trace it may carry).

#pragma once

#include <c10/util/Exception.h>

#include <cstddef>
#include <cstdio>
#include <exception>

template <class Body>
int guarded(char* error, size_t error_len, Body body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    std::snprintf(error, error_len, "%s", e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::snprintf(error, error_len, "%s", e.what());
  } catch (...) {
    std::snprintf(error, error_len, "unknown C++ exception");
  }
  return -1;
}
