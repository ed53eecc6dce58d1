// The few libtorch calls that tch does not wrap, for rust/streams.rs and rust/error.rs.
//
// CUDA streams (c10::cuda, compiled only when libtorch has CUDA): a stream crosses into Rust as c10's packed form (StreamData3: id, device index, device
// type), so no C++ object is owned across the boundary. Streams come from c10's per-device
// pool, which owns them for the life of the process. Every function catches C++ exceptions
// and returns -1 with the message in `error`: nothing may unwind into Rust.

#include <c10/util/Logging.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

extern "C" {

// libtorch builds every error's message with a symbolized C++ stack trace (milliseconds per
// error) because tch reads it through what(). An empty trace fetcher makes an error cost
// microseconds, and the trace was cut from our messages anyway.
void simple_torch_quiet_cpp_backtraces(void) {
  c10::SetStackTraceFetcher(std::function<std::string()>([] { return std::string(); }));
}

}  // extern "C"

#ifdef SIMPLE_TORCH_CUDA

#include <c10/cuda/CUDAStream.h>

extern "C" {
struct SimpleTorchCudaStream {
  int64_t id;
  int32_t device_index;
  int32_t device_type;
};
}

namespace {

c10::cuda::CUDAStream unpack(const SimpleTorchCudaStream& stream) {
  return c10::cuda::CUDAStream::unpack3(
      stream.id,
      static_cast<c10::DeviceIndex>(stream.device_index),
      static_cast<c10::DeviceType>(stream.device_type));
}

SimpleTorchCudaStream pack(const c10::cuda::CUDAStream& stream) {
  c10::StreamData3 data = stream.pack3();
  return {data.stream_id, data.device_index, static_cast<int32_t>(data.device_type)};
}

template <class Body>
int guarded(char* error, size_t error_len, Body body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(error, error_len, "%s", e.what());
  } catch (...) {
    std::snprintf(error, error_len, "unknown C++ exception");
  }
  return -1;
}

}  // namespace

extern "C" {

int simple_torch_cuda_stream_new(int32_t device, SimpleTorchCudaStream* out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    *out = pack(c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(device)));
  });
}

int simple_torch_cuda_stream_synchronize(const SimpleTorchCudaStream* stream, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { unpack(*stream).synchronize(); });
}

int simple_torch_cuda_stream_query(const SimpleTorchCudaStream* stream, int32_t* done, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { *done = unpack(*stream).query() ? 1 : 0; });
}

int simple_torch_cuda_current_stream(int32_t device, SimpleTorchCudaStream* out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    *out = pack(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)));
  });
}

int simple_torch_cuda_set_current_stream(const SimpleTorchCudaStream* stream, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { c10::cuda::setCurrentCUDAStream(unpack(*stream)); });
}

}  // extern "C"

#endif  // SIMPLE_TORCH_CUDA
