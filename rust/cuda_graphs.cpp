// CUDA graphs for rust/cuda_graphs.rs: libtorch's at::cuda::CUDAGraph (ATen/cuda/CUDAGraph.h),
// the class behind torch.cuda.CUDAGraph. Each function reports a C++ exception as -1 plus its
// message (rust/guarded.h). Without CUDA (a CPU-only libtorch) every function exists and fails
// saying so, so that Rust declares each once.
//
// A graph is bound to one GPU when it is made: capture_begin and capture_end run with that GPU
// as the current device, so they capture the current stream of that GPU, as torch does for the
// current device. CUDAGraph itself insists that this stream is not the default stream.

#include "guarded.h"

#include <cstdint>
#include <stdexcept>
#include <string>

#ifdef SIMPLE_TORCH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

#include <optional>

namespace {

// Makes `device` the current GPU until the end of the scope. c10's CUDAGuard does this too, but
// its inline code calls the CUDA runtime itself, which only libtorch's libraries link (not Rust's
// test binaries); ExchangeDevice lives in libc10_cuda.
class OnDevice {
 public:
  explicit OnDevice(c10::DeviceIndex device) : previous_(c10::cuda::ExchangeDevice(device)) {}
  ~OnDevice() {
    try {
      c10::cuda::ExchangeDevice(previous_);
    } catch (...) {
      // A device that was current a moment ago cannot fail to become current again.
    }
  }
  OnDevice(const OnDevice&) = delete;
  OnDevice& operator=(const OnDevice&) = delete;

 private:
  c10::DeviceIndex previous_;
};

// Makes `stream` current on its GPU, and that GPU current, until the end of the scope.
class OnStream {
 public:
  explicit OnStream(const c10::cuda::CUDAStream& stream)
      : on_device_(stream.device_index()), previous_(c10::cuda::getCurrentCUDAStream(stream.device_index())) {
    c10::cuda::setCurrentCUDAStream(stream);
  }
  ~OnStream() { c10::cuda::setCurrentCUDAStream(previous_); }
  OnStream(const OnStream&) = delete;
  OnStream& operator=(const OnStream&) = delete;

 private:
  OnDevice on_device_;
  c10::cuda::CUDAStream previous_;
};

struct Graph {
  explicit Graph(c10::DeviceIndex device) : device(device) {}

  c10::DeviceIndex device;
  at::cuda::CUDAGraph graph;
  // The stream of the capture in progress, from capture_begin to capture_end. CUDAGraph does not
  // say whether it is capturing; knowing it lets capture_end refuse clearly when nothing was
  // begun (instead of asking CUDA to end a capture on a stream that has none), and lets reset and
  // free end a capture that was abandoned, which would otherwise leave the stream capturing for
  // good (every later launch on it would go into a graph nobody replays).
  std::optional<c10::cuda::CUDAStream> capturing;
};

Graph& graph_of(void* graph) { return *static_cast<Graph*>(graph); }

cudaStreamCaptureMode capture_mode(int32_t mode) {
  switch (mode) {
    case 0: return cudaStreamCaptureModeGlobal;
    case 1: return cudaStreamCaptureModeThreadLocal;
    case 2: return cudaStreamCaptureModeRelaxed;
    default: throw std::invalid_argument("unknown capture mode " + std::to_string(mode));
  }
}

// Ends an abandoned capture, best effort: on its own stream (capture_end checks that), and
// giving up silently where CUDA refuses, e.g. a global or thread-local capture ended from
// another thread than the one that began it.
void abandon_capture(Graph& g) {
  if (!g.capturing) {
    return;
  }
  try {
    OnStream on_capture_stream(*g.capturing);
    g.graph.capture_end();
  } catch (...) {
  }
  g.capturing.reset();
}

}  // namespace

extern "C" {

// A new graph bound to GPU `device`, with nothing captured yet.
int simple_torch_cuda_graph_new(int32_t device, void** out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    // CUDAGraph's constructor reads the current device's stream: make it this graph's GPU.
    OnDevice on_device(static_cast<c10::DeviceIndex>(device));
    *out = new Graph(static_cast<c10::DeviceIndex>(device));
  });
}

// Begins capturing the work queued on the current stream of the graph's GPU, into the memory
// pool (first, second): (0, 0) a new private pool, else a pool_handle() or another graph's pool().
int simple_torch_cuda_graph_capture_begin(void* graph, uint64_t first, uint64_t second, int32_t mode, char* error,
                                          size_t error_len) {
  return guarded(error, error_len, [&] {
    Graph& g = graph_of(graph);
    if (g.capturing) {
      throw std::invalid_argument("this graph is already capturing: call capture_end first");
    }
    OnDevice on_device(g.device);
    g.graph.capture_begin({first, second}, capture_mode(mode));
    g.capturing = c10::cuda::getCurrentCUDAStream(g.device);
  });
}

int simple_torch_cuda_graph_capture_end(void* graph, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    Graph& g = graph_of(graph);
    if (!g.capturing) {
      throw std::invalid_argument("capture_end without a capture in progress: call capture_begin first");
    }
    OnDevice on_device(g.device);
    g.graph.capture_end();  // on failure the capture stays ours: reset or free end it
    g.capturing.reset();
  });
}

// Launches the captured work on the current stream of the graph's GPU.
int simple_torch_cuda_graph_replay(void* graph, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { graph_of(graph).graph.replay(); });
}

// Drops the captured graph and gives its pool back (tensors still using the pool keep it alive);
// the graph can then capture again.
int simple_torch_cuda_graph_reset(void* graph, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    Graph& g = graph_of(graph);
    abandon_capture(g);
    g.graph.reset();
  });
}

int simple_torch_cuda_graph_pool(void* graph, uint64_t* first, uint64_t* second, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    const auto pool = graph_of(graph).graph.pool();
    *first = pool.first;
    *second = pool.second;
  });
}

// A new pool id for capture_begin, to share one pool between graphs (torch.cuda.graph_pool_handle).
int simple_torch_cuda_graph_pool_handle(uint64_t* first, uint64_t* second, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    const auto pool = at::cuda::graph_pool_handle();
    *first = pool.first;
    *second = pool.second;
  });
}

void simple_torch_cuda_graph_free(void* graph) {
  auto* g = static_cast<Graph*>(graph);
  abandon_capture(*g);
  // ~CUDAGraph runs reset(), which may throw from a destructor (std::terminate). Reset here
  // instead, where a failure can be caught; if it fails, leak the graph rather than abort.
  try {
    g->graph.reset();
  } catch (...) {
    return;
  }
  delete g;
}

}  // extern "C"

#else  // no CUDA in this libtorch

namespace {

int unavailable(char* error, size_t error_len) {
  return guarded(error, error_len, [] {
    throw std::runtime_error("CUDA is not available: this libtorch was built without CUDA, so it has no CUDA graphs");
  });
}

}  // namespace

extern "C" {

int simple_torch_cuda_graph_new(int32_t, void**, char* error, size_t error_len) { return unavailable(error, error_len); }
int simple_torch_cuda_graph_capture_begin(void*, uint64_t, uint64_t, int32_t, char* error, size_t error_len) {
  return unavailable(error, error_len);
}
int simple_torch_cuda_graph_capture_end(void*, char* error, size_t error_len) { return unavailable(error, error_len); }
int simple_torch_cuda_graph_replay(void*, char* error, size_t error_len) { return unavailable(error, error_len); }
int simple_torch_cuda_graph_reset(void*, char* error, size_t error_len) { return unavailable(error, error_len); }
int simple_torch_cuda_graph_pool(void*, uint64_t*, uint64_t*, char* error, size_t error_len) { return unavailable(error, error_len); }
int simple_torch_cuda_graph_pool_handle(uint64_t*, uint64_t*, char* error, size_t error_len) { return unavailable(error, error_len); }
void simple_torch_cuda_graph_free(void*) {}

}  // extern "C"

#endif
