// The few libtorch calls that tch does not wrap, for rust/error.rs, rust/dlpack.rs, rust/streams.rs
// and rust/generators.rs.
//
// Every function catches C++ exceptions and returns -1 with the message in `error` (guarded.h):
// nothing may unwind into Rust.
//
// DLPack: libtorch's own conversions (at::toDLPack, at::fromDLPack), which already get the
// lifetime rules right; exported tensors are counted so that tests can prove each is deleted once.
//
// CUDA (c10::cuda; without CUDA each function fails saying so): a stream crosses into Rust as
// c10's packed form (StreamData3: id, device index, device type), so no C++ object is owned
// across the boundary. Streams come from c10's per-device pool, which owns them for the life of
// the process. Events are c10::Event objects that Rust owns and frees. Memory statistics come
// from the CUDA caching allocator, as torch.cuda's do.
//
// Random generators: at::Generator objects that Rust owns and frees, made for the CPU or, through
// libtorch's CUDA hooks (no CUDA headers needed), for a GPU.

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/DLConvertor.h>
#include <ATen/core/Generator.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Logging.h>

#include <dlfcn.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

#include "guarded.h"

extern "C" {

// libtorch builds every error's message with a symbolized C++ stack trace (milliseconds per
// error) because tch reads it through what(). An empty trace fetcher makes an error cost
// microseconds, and the trace was cut from our messages anyway.
void simple_torch_quiet_cpp_backtraces(void) {
  c10::SetStackTraceFetcher(std::function<std::string()>([] { return std::string(); }));
}

}  // extern "C"

// ---- DLPack ------------------------------------------------------------------------------------

namespace {

std::atomic<int64_t> live_exports{0};

// libtorch's DLPack tensor behind one of ours whose deleter also counts. `Managed` is
// DLManagedTensor or DLManagedTensorVersioned: both have manager_ctx and deleter.
template <class Managed>
struct Counted {
  Managed outer;
  Managed* inner;

  static void deleter(Managed* self) {
    auto* counted = static_cast<Counted*>(self->manager_ctx);
    if (counted->inner->deleter) {
      counted->inner->deleter(counted->inner);
    }
    delete counted;
    live_exports.fetch_sub(1, std::memory_order_relaxed);
  }

  static Managed* wrap(Managed* inner) {
    Counted* counted;
    try {
      counted = new Counted{*inner, inner};
    } catch (...) {
      inner->deleter(inner);
      throw;
    }
    counted->outer.manager_ctx = counted;
    counted->outer.deleter = &Counted::deleter;
    live_exports.fetch_add(1, std::memory_order_relaxed);
    return &counted->outer;
  }
};

// libtorch refuses a nonzero byte_offset; the same elements start at data + byte_offset.
void fold_byte_offset(DLTensor& tensor) {
  if (tensor.byte_offset != 0) {
    tensor.data = static_cast<char*>(tensor.data) + tensor.byte_offset;
    tensor.byte_offset = 0;
  }
}

template <class Managed>
void delete_managed(void* managed) {
  auto* tensor = static_cast<Managed*>(managed);
  if (tensor->deleter) {
    tensor->deleter(tensor);
  }
}

// CPython's capsule API, looked up in the running interpreter: the library never links
// libpython, so C programs load it as before; only a Python host ever calls the destructor.
typedef struct _object PyObject;
struct PythonCapsuleApi {
  int (*is_valid)(PyObject*, const char*);
  void* (*get_pointer)(PyObject*, const char*);
  void (*fetch)(PyObject**, PyObject**, PyObject**);
  void (*restore)(PyObject*, PyObject*, PyObject*);

  static PythonCapsuleApi find() {
    return {
        reinterpret_cast<int (*)(PyObject*, const char*)>(dlsym(RTLD_DEFAULT, "PyCapsule_IsValid")),
        reinterpret_cast<void* (*)(PyObject*, const char*)>(dlsym(RTLD_DEFAULT, "PyCapsule_GetPointer")),
        reinterpret_cast<void (*)(PyObject**, PyObject**, PyObject**)>(dlsym(RTLD_DEFAULT, "PyErr_Fetch")),
        reinterpret_cast<void (*)(PyObject*, PyObject*, PyObject*)>(dlsym(RTLD_DEFAULT, "PyErr_Restore")),
    };
  }

  bool found() const { return is_valid && get_pointer && fetch && restore; }
};

}  // namespace

extern "C" {

int simple_torch_to_dlpack(const void* tensor, int versioned, void** out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    // DLPack has no lazy conjugate or negative bit: a tensor carrying one (x.conj(), x.H) is
    // exported with the bit applied, which copies it, as torch.from_dlpack(x.resolve_conj()) would.
    auto source = static_cast<const at::Tensor*>(tensor)->resolve_conj().resolve_neg();
    // A ZeroTensor (autograd's zero gradients) has no memory at all: export real zeros.
    if (source._is_zerotensor()) source = at::zeros(source.sizes(), source.options());
    *out = versioned ? static_cast<void*>(Counted<DLManagedTensorVersioned>::wrap(at::toDLPackVersioned(source)))
                     : static_cast<void*>(Counted<DLManagedTensor>::wrap(at::toDLPack(source)));
  });
}

// On success *out is a new at::Tensor that owns `managed` (libtorch calls its deleter when the
// last tensor using the memory goes); on failure the caller still owns `managed`.
int simple_torch_from_dlpack(void* managed, int versioned, void** out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    at::Tensor tensor;
    if (versioned) {
      auto* source = static_cast<DLManagedTensorVersioned*>(managed);
      TORCH_CHECK(source->version.major == DLPACK_MAJOR_VERSION, "DLPack version ", source->version.major, ".",
                  source->version.minor, " is not supported (this libtorch reads ", DLPACK_MAJOR_VERSION, ".x)");
      fold_byte_offset(source->dl_tensor);
      tensor = at::fromDLPackVersioned(source);
    } else {
      auto* source = static_cast<DLManagedTensor*>(managed);
      fold_byte_offset(source->dl_tensor);
      tensor = at::fromDLPack(source);
    }
    *out = new at::Tensor(std::move(tensor));
  });
}

// The c10 ScalarType of a DLPack tensor's elements, so that the caller can refuse a dtype before
// it takes ownership.
int simple_torch_dlpack_scalar_type(const void* managed, int versioned, int32_t* out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    const DLTensor& tensor = versioned ? static_cast<const DLManagedTensorVersioned*>(managed)->dl_tensor
                                       : static_cast<const DLManagedTensor*>(managed)->dl_tensor;
    *out = static_cast<int32_t>(at::toScalarType(tensor.dtype));
  });
}

int64_t simple_torch_dlpack_live_exports(void) { return live_exports.load(std::memory_order_relaxed); }

// The destructor of a capsule that was never consumed: the DLPack protocol renames a consumed
// capsule ("used_dltensor"), and then the consumer owns the tensor. Keeps any pending Python
// exception (a capsule may die while one propagates) and never touches the error slot.
void simple_torch_dlpack_capsule_destructor(PyObject* capsule) {
  static const PythonCapsuleApi api = PythonCapsuleApi::find();
  if (!api.found()) {
    return;
  }
  PyObject *type, *value, *traceback;
  api.fetch(&type, &value, &traceback);
  try {
    if (api.is_valid(capsule, "dltensor_versioned")) {
      delete_managed<DLManagedTensorVersioned>(api.get_pointer(capsule, "dltensor_versioned"));
    } else if (api.is_valid(capsule, "dltensor")) {
      delete_managed<DLManagedTensor>(api.get_pointer(capsule, "dltensor"));
    }
  } catch (...) {
    // A deleter that throws: nothing can be reported from a destructor.
  }
  api.restore(type, value, traceback);
}

}  // extern "C"

// ---- Tensor operations that tch lacks or wraps with other arguments --------------------------------

extern "C" {

// self.pin_memory() without a device: tch always passes one, which libtorch deprecates and
// refuses for the CPU.
int simple_torch_pin_memory(const void* tensor, void** out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { *out = new at::Tensor(static_cast<const at::Tensor*>(tensor)->pin_memory()); });
}

int simple_torch_is_pinned(const void* tensor, int32_t* out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { *out = static_cast<const at::Tensor*>(tensor)->is_pinned() ? 1 : 0; });
}

// The tensor's dtype as c10's ScalarType number, and its element size: tch's Kind has no
// uint16/32/64, which operators can return.
int simple_torch_scalar_type(const void* tensor, int32_t* code, int32_t* itemsize, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    const auto& source = *static_cast<const at::Tensor*>(tensor);
    *code = static_cast<int32_t>(source.scalar_type());
    *itemsize = static_cast<int32_t>(source.element_size());
  });
}

// ---- random generators: at::Generator objects that Rust owns (made here, deleted by _free) --

int simple_torch_generator_create(int32_t device, void** out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    at::Generator generator = device < 0 ? at::detail::createCPUGenerator()
                                         : at::detail::getCUDAHooks().getNewGenerator(static_cast<c10::DeviceIndex>(device));
    *out = new at::Generator(std::move(generator));
  });
}

void simple_torch_generator_free(void* generator) { delete static_cast<at::Generator*>(generator); }

int simple_torch_generator_manual_seed(void* generator, uint64_t seed, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    auto& gen = *static_cast<at::Generator*>(generator);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  });
}

// The seed it was last seeded with; with `fresh`, seeds it from a non-deterministic source first.
int simple_torch_generator_seed(void* generator, int fresh, uint64_t* seed, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    auto& gen = *static_cast<at::Generator*>(generator);
    std::lock_guard<std::mutex> lock(gen.mutex());
    *seed = fresh ? gen.seed() : gen.current_seed();
  });
}

int32_t simple_torch_generator_device(void* generator) {
  auto device = static_cast<at::Generator*>(generator)->device();
  return device.is_cpu() ? -1 : device.index();
}

// dst.copy_(src, non_blocking): tch's copy_ has no non_blocking argument.
int simple_torch_copy_(const void* dst, const void* src, int non_blocking, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    static_cast<const at::Tensor*>(dst)->copy_(*static_cast<const at::Tensor*>(src), non_blocking != 0);
  });
}

// Where the tensor's storage starts and how many bytes it holds (torch's untyped_storage()).
int simple_torch_storage(const void* tensor, uint64_t* data, int64_t* nbytes, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    const auto& storage = static_cast<const at::Tensor*>(tensor)->storage();
    *data = reinterpret_cast<uint64_t>(storage.data());
    *nbytes = static_cast<int64_t>(storage.nbytes());
  });
}

// The bytes of a CPU tensor's storage (all of it, if the tensor is a view), 0 for an undefined
// tensor, -1 for one on another device or without a storage (sparse): what rust/handles.rs needs
// to decide whether a handle is DEFERRABLE, in one call that cannot fail.
int64_t simple_torch_cpu_storage_nbytes(const void* tensor) noexcept {
  try {
    const auto& t = *static_cast<const at::Tensor*>(tensor);
    if (!t.defined()) return 0;
    if (!t.is_cpu() || !t.has_storage()) return -1;
    return static_cast<int64_t>(t.storage().nbytes());
  } catch (...) {
    return -1;
  }
}

// `t.to(device, non_blocking)` keeping every dtype (tch's to_device needs one of its kinds):
// `device` -1 is the CPU, N is cuda:N. The same tensor if it is there already.
int simple_torch_to_device(const void* tensor, int device, int non_blocking, void** out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    auto target = device < 0 ? c10::Device(c10::DeviceType::CPU) : c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device));
    *out = new at::Tensor(static_cast<const at::Tensor*>(tensor)->to(target, non_blocking != 0));
  });
}

}  // extern "C"

// ---- CUDA: streams, events, the caching allocator ----------------------------------------------
//
// Every function below exists in every build, so Rust declares each once; without CUDA (a
// CPU-only libtorch) its body is left out and it fails with a clear message.

#ifdef SIMPLE_TORCH_CUDA
#include <c10/core/Event.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <ATen/Context.h>
#define CUDA_ONLY(...) __VA_ARGS__
#else
#define CUDA_ONLY(...) throw std::runtime_error("this libtorch was built without CUDA")
#endif

extern "C" {
struct SimpleTorchCudaStream {
  int64_t id;
  int32_t device_index;
  int32_t device_type;
};
}

#ifdef SIMPLE_TORCH_CUDA
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

c10::DeviceIndex index(int32_t device) { return static_cast<c10::DeviceIndex>(device); }

c10::Event& event(void* raw) { return *static_cast<c10::Event*>(raw); }

// The caching allocator serves a device only once CUDA is initialized, as torch.cuda does on first use.
void init_cuda() { at::globalContext().lazyInitDevice(c10::DeviceType::CUDA); }

}  // namespace
#endif

extern "C" {

int simple_torch_cuda_stream_new(int32_t device, SimpleTorchCudaStream* out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(*out = pack(c10::cuda::getStreamFromPool(false, index(device)))); });
}

int simple_torch_cuda_stream_synchronize(const SimpleTorchCudaStream* stream, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(unpack(*stream).synchronize()); });
}

int simple_torch_cuda_stream_query(const SimpleTorchCudaStream* stream, int32_t* done, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(*done = unpack(*stream).query() ? 1 : 0); });
}

// The stream's cudaStream_t, for other CUDA libraries (NULL is the legacy default stream).
int simple_torch_cuda_stream_raw(const SimpleTorchCudaStream* stream, void** out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(*out = unpack(*stream).stream()); });
}

int simple_torch_cuda_current_stream(int32_t device, SimpleTorchCudaStream* out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(*out = pack(c10::cuda::getCurrentCUDAStream(index(device)))); });
}

int simple_torch_cuda_set_current_stream(const SimpleTorchCudaStream* stream, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(c10::cuda::setCurrentCUDAStream(unpack(*stream))); });
}

// Waits for all work queued on any stream of the device, as torch.cuda.synchronize(device) does.
int simple_torch_cuda_device_synchronize(int32_t device, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    CUDA_ONLY(c10::cuda::CUDAGuard on_device(index(device)); c10::cuda::device_synchronize());
  });
}

// Events: c10::Event, whose CUDA implementation lives in libc10_cuda. Its device is set by the
// first record; timing needs the backend's default flag (PyTorch's default disables timing).
int simple_torch_cuda_event_new(int32_t enable_timing, void** out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    CUDA_ONLY(*out = new c10::Event(c10::DeviceType::CUDA,
                                    enable_timing ? c10::EventFlag::BACKEND_DEFAULT : c10::EventFlag::PYTORCH_DEFAULT));
  });
}

void simple_torch_cuda_event_free(void* event) {
  try {
    CUDA_ONLY(delete static_cast<c10::Event*>(event));
  } catch (...) {
    // Destroying a CUDA event cannot fail in a way a caller could act on.
  }
}

int simple_torch_cuda_event_record(void* raw, const SimpleTorchCudaStream* stream, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(event(raw).record(unpack(*stream).unwrap())); });
}

// Work queued on `stream` after this waits for the event's recorded work, without blocking the host.
int simple_torch_cuda_event_block(void* raw, const SimpleTorchCudaStream* stream, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(event(raw).block(unpack(*stream).unwrap())); });
}

int simple_torch_cuda_event_query(void* raw, int32_t* done, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(*done = event(raw).query() ? 1 : 0); });
}

int simple_torch_cuda_event_synchronize(void* raw, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(event(raw).synchronize()); });
}

int simple_torch_cuda_event_elapsed_ms(void* start, void* end, double* out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] { CUDA_ONLY(*out = event(start).elapsedTime(event(end))); });
}

// The caching allocator's byte counts for the device: now and peak, allocated and reserved.
int simple_torch_cuda_memory_stats(int32_t device, int64_t* out, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    CUDA_ONLY(
      init_cuda();
      const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index(device));
      const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
      out[0] = stats.allocated_bytes[all].current;
      out[1] = stats.allocated_bytes[all].peak;
      out[2] = stats.reserved_bytes[all].current;
      out[3] = stats.reserved_bytes[all].peak;
    );
  });
}

int simple_torch_cuda_reset_peak_memory_stats(int32_t device, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    CUDA_ONLY(init_cuda(); c10::cuda::CUDACachingAllocator::resetPeakStats(index(device)));
  });
}

// Returns the cached blocks that no tensor uses to the driver, on every device.
int simple_torch_cuda_empty_cache(char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    CUDA_ONLY(init_cuda(); c10::cuda::CUDACachingAllocator::emptyCache());
  });
}

// The driver's free and total memory on the device (cudaMemGetInfo), in bytes.
int simple_torch_cuda_memory_info(int32_t device, int64_t* free, int64_t* total, char* error, size_t error_len) {
  return guarded(error, error_len, [&] {
    CUDA_ONLY(
      init_cuda();
      const auto info = c10::cuda::CUDACachingAllocator::get()->getMemoryInfo(index(device));
      *free = static_cast<int64_t>(info.first);
      *total = static_cast<int64_t>(info.second);
    );
  });
}

}  // extern "C"
