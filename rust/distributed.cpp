// PyTorch's distributed engine (c10d), for rust/distributed.rs: stores (TCPStore, FileStore,
// PrefixStore), process groups (Gloo; NCCL on CUDA builds) and the works their collectives return.
//
// Everything here is libtorch's own c10d, as torch.distributed drives it, so simple_torch ranks
// and PyTorch ranks can be in one job. Stores, groups and works are c10d intrusive pointers in
// heap boxes that Rust owns and frees. Every function follows guarded.h's error convention.
//
// ProcessGroupGloo.hpp includes Gloo's headers, which the torch wheel lacks: third_party/gloo has
// them, pinned to the Gloo commit that PyTorch 2.11.0 was built with (see its README.md).

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupWrapper.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SIMPLE_TORCH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "guarded.h"

namespace {

using c10d::Backend;
using c10d::Store;
using c10d::Work;

struct StoreBox {
  c10::intrusive_ptr<Store> store;
  int port;  // a TCPStore's port (the one the OS chose for port 0); -1 for other stores
};

struct GroupBox {
  c10::intrusive_ptr<Backend> backend;            // the group, or the checking wrapper around it
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;  // for monitoredBarrier: the group or the checker
};

struct WorkBox {
  c10::intrusive_ptr<Work> work;
  std::vector<at::Tensor> tensors;  // what the collective reads and writes, alive until it is done
};

std::chrono::milliseconds millis(int64_t ms) { return std::chrono::milliseconds(ms); }

c10d::ReduceOp reduce_op(int32_t op) {
  TORCH_CHECK(op >= 0 && op <= static_cast<int32_t>(c10d::ReduceOp::BXOR), "unknown reduce op ", op);
  return c10d::ReduceOp(static_cast<c10d::ReduceOp::RedOpType>(op));
}

const at::Tensor& tensor(const void* t) { return *static_cast<const at::Tensor*>(t); }

std::vector<at::Tensor> tensor_list(const void* const* tensors, size_t n) {
  std::vector<at::Tensor> list;
  for (size_t i = 0; i < n; ++i) list.push_back(tensor(tensors[i]));
  return list;
}

Backend& backend(void* group) { return *static_cast<GroupBox*>(group)->backend; }

// Starts a collective and boxes its work with the tensors it uses.
template <class Start>
int start(void** work, std::vector<at::Tensor> tensors, char* error, size_t len, Start body) {
  return guarded(error, len, [&] { *work = new WorkBox{body(), std::move(tensors)}; });
}

}  // namespace

extern "C" {

// ---- stores ------------------------------------------------------------------------------------

// A TCPStore client, or with is_server its server too (on `port`; 0 lets the OS choose). The
// server does not wait for the workers: the group's rendezvous does, and names who is missing.
// Clients still check in (TCPStore's "init/" count), which a server run by PyTorch waits for.
int simple_torch_store_tcp(const char* host, int32_t port, int32_t world_size, int is_server, int64_t timeout_ms,
                           void** out, char* error, size_t len) {
  return guarded(error, len, [&] {
    TORCH_CHECK(port >= 0 && port < 65536, "port must be in 0..65535, not ", port);
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(port);
    options.isServer = is_server != 0;
    if (world_size > 0) options.numWorkers = world_size;
    options.waitWorkers = !options.isServer;
    options.timeout = millis(timeout_ms);
    options.multiTenant = true;
    auto store = c10::make_intrusive<c10d::TCPStore>(host, options);
    int chosen = store->getPort();
    *out = new StoreBox{store, chosen};
  });
}

int simple_torch_store_file(const char* path, int32_t world_size, void** out, char* error, size_t len) {
  return guarded(error, len, [&] { *out = new StoreBox{c10::make_intrusive<c10d::FileStore>(path, world_size), -1}; });
}

// The store with every key under `prefix` (PrefixStore), as torch.distributed nests its groups.
int simple_torch_store_prefix(void* store, const char* prefix, void** out, char* error, size_t len) {
  return guarded(error, len, [&] {
    auto* box = static_cast<StoreBox*>(store);
    *out = new StoreBox{c10::make_intrusive<c10d::PrefixStore>(prefix, box->store), box->port};
  });
}

// A second connection to the same store, for another thread (a TCPStore client serializes calls).
int simple_torch_store_clone(void* store, void** out, char* error, size_t len) {
  return guarded(error, len, [&] {
    auto* box = static_cast<StoreBox*>(store);
    *out = new StoreBox{box->store->clone(), box->port};
  });
}

void simple_torch_store_free(void* store) { delete static_cast<StoreBox*>(store); }

int32_t simple_torch_store_port(void* store) { return static_cast<StoreBox*>(store)->port; }

int simple_torch_store_set(void* store, const char* key, const uint8_t* value, size_t n, char* error, size_t len) {
  return guarded(error, len, [&] {
    static_cast<StoreBox*>(store)->store->set(key, std::vector<uint8_t>(value, value + n));
  });
}

// Copies up to `capacity` bytes of the key's value (waiting for the key, up to the store's
// timeout) and writes its full length to `size`.
int simple_torch_store_get(void* store, const char* key, uint8_t* buffer, size_t capacity, int64_t* size, char* error,
                           size_t len) {
  return guarded(error, len, [&] {
    auto value = static_cast<StoreBox*>(store)->store->get(key);
    if (!value.empty()) std::memcpy(buffer, value.data(), std::min(capacity, value.size()));
    *size = static_cast<int64_t>(value.size());
  });
}

int simple_torch_store_add(void* store, const char* key, int64_t amount, int64_t* value, char* error, size_t len) {
  return guarded(error, len, [&] { *value = static_cast<StoreBox*>(store)->store->add(key, amount); });
}

// Whether every key exists, without waiting (`check`), or waits for them (timeout_ms < 0: the
// store's own timeout).
int simple_torch_store_wait(void* store, const char* const* keys, size_t n, int64_t timeout_ms, int check_only,
                            int* present, char* error, size_t len) {
  return guarded(error, len, [&] {
    auto& s = *static_cast<StoreBox*>(store)->store;
    std::vector<std::string> names(keys, keys + n);
    if (check_only) {
      *present = s.check(names) ? 1 : 0;
    } else {
      timeout_ms < 0 ? s.wait(names) : s.wait(names, millis(timeout_ms));
      *present = 1;
    }
  });
}

int simple_torch_store_delete(void* store, const char* key, int* deleted, char* error, size_t len) {
  return guarded(error, len, [&] { *deleted = static_cast<StoreBox*>(store)->store->deleteKey(key) ? 1 : 0; });
}

int simple_torch_store_set_timeout(void* store, int64_t timeout_ms, char* error, size_t len) {
  return guarded(error, len, [&] { static_cast<StoreBox*>(store)->store->setTimeout(millis(timeout_ms)); });
}

// ---- process groups ----------------------------------------------------------------------------

}  // extern "C"

namespace {

// A Gloo device, as torch.distributed makes one: on the network interface `interface`
// (GLOO_SOCKET_IFNAME) if given, else on `hostname`'s address if given, else on this machine's
// hostname (the loopback address if it does not resolve).
std::shared_ptr<::gloo::transport::Device> gloo_device(const char* interface, const char* hostname) {
  if (interface && *interface) return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  if (hostname && *hostname) return c10d::ProcessGroupGloo::createDeviceForHostname(hostname);
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<c10d::ProcessGroupGloo> make_gloo(const c10::intrusive_ptr<Store>& store, int32_t rank, int32_t size,
                                                     int64_t timeout_ms, const char* interface, const char* hostname,
                                                     const char* group_name) {
  auto options = c10d::ProcessGroupGloo::Options::create(millis(timeout_ms));
  options->devices.push_back(gloo_device(interface, hostname));
  options->group_name = group_name;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

// Boxes `group`; with `checked`, wrapped as torch.distributed wraps it under
// TORCH_DISTRIBUTED_DEBUG=DETAIL: before each collective a second Gloo group (under the same
// store prefix as torch's) checks that every rank is there and runs the same collective on the
// same shapes and dtypes, and names the ranks that are missing or differ, where the collective
// itself would hang, return garbage or abort the process.
GroupBox* box(c10::intrusive_ptr<Backend> group, c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo, bool checked,
              const c10::intrusive_ptr<Store>& store, int32_t rank, int32_t size, int64_t timeout_ms,
              const char* interface, const char* hostname, const char* group_name) {
  group->setSequenceNumberForGroup();  // as torch.distributed does: through the store
  if (!checked) return new GroupBox{group, gloo};
  auto helper_store = c10::make_intrusive<c10d::PrefixStore>(std::string("pg_wrapper:") + group_name, store);
  auto helper = make_gloo(helper_store, rank, size, timeout_ms, interface, hostname, group_name);
  return new GroupBox{c10::make_intrusive<c10d::ProcessGroupWrapper>(group, helper), helper};
}

}  // namespace

extern "C" {

// A Gloo group over `store` (see gloo_device and box). Connecting to every other rank happens
// here, within `timeout_ms`.
int simple_torch_group_gloo(void* store, int32_t rank, int32_t size, int64_t timeout_ms, const char* interface,
                            const char* hostname, const char* group_name, int checked, void** out, char* error,
                            size_t len) {
  return guarded(error, len, [&] {
    auto& s = static_cast<StoreBox*>(store)->store;
    auto group = make_gloo(s, rank, size, timeout_ms, interface, hostname, group_name);
    *out = box(group, group, checked != 0, s, rank, size, timeout_ms, interface, hostname, group_name);
  });
}

// An NCCL group (CUDA builds): one communicator per GPU, made on first use as in torch.
int simple_torch_group_nccl(void* store, int32_t rank, int32_t size, int64_t timeout_ms, const char* interface,
                            const char* hostname, const char* group_name, int checked, void** out, char* error,
                            size_t len) {
  return guarded(error, len, [&] {
#ifdef SIMPLE_TORCH_NCCL
    auto& s = static_cast<StoreBox*>(store)->store;
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = millis(timeout_ms);
    options->group_name = group_name;
    auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(s, rank, size, options);
    *out = box(group, nullptr, checked != 0, s, rank, size, timeout_ms, interface, hostname, group_name);
#else
    (void)store, (void)rank, (void)size, (void)timeout_ms, (void)interface, (void)hostname, (void)group_name;
    (void)checked, (void)out;
    TORCH_CHECK(false, "this simple_torch was built without NCCL (its libtorch has no CUDA, or nvidia-nccl's nccl.h was missing)");
#endif
  });
}

void simple_torch_group_free(void* group) { delete static_cast<GroupBox*>(group); }

int32_t simple_torch_group_rank(void* group) { return backend(group).getRank(); }

int32_t simple_torch_group_size(void* group) { return backend(group).getSize(); }

// Rank 0 waits until every rank has reached it, and names the ranks that did not (Gloo only).
int simple_torch_group_monitored_barrier(void* group, int64_t timeout_ms, int wait_all_ranks, char* error, size_t len) {
  return guarded(error, len, [&] {
    auto& gloo = static_cast<GroupBox*>(group)->gloo;
    TORCH_CHECK(gloo, "monitored_barrier needs a Gloo group, or a checked one (TORCH_DISTRIBUTED_DEBUG=DETAIL)");
    c10d::BarrierOptions options;
    if (timeout_ms >= 0) options.timeout = millis(timeout_ms);
    gloo->monitoredBarrier(options, wait_all_ranks != 0);
  });
}

// ---- collectives: each starts the work and boxes it (simple_torch_work_*) ------------------------

int simple_torch_all_reduce(void* group, const void* t, int32_t op, void** work, char* error, size_t len) {
  std::vector<at::Tensor> tensors{tensor(t)};
  return start(work, tensors, error, len, [&] {
    c10d::AllreduceOptions options;
    options.reduceOp = reduce_op(op);
    return backend(group).allreduce(tensors, options);
  });
}

int simple_torch_reduce(void* group, const void* t, int32_t root, int32_t op, void** work, char* error, size_t len) {
  std::vector<at::Tensor> tensors{tensor(t)};
  return start(work, tensors, error, len, [&] {
    c10d::ReduceOptions options;
    options.rootRank = root;
    options.reduceOp = reduce_op(op);
    return backend(group).reduce(tensors, options);
  });
}

int simple_torch_broadcast(void* group, const void* t, int32_t root, void** work, char* error, size_t len) {
  std::vector<at::Tensor> tensors{tensor(t)};
  return start(work, tensors, error, len, [&] {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    return backend(group).broadcast(tensors, options);
  });
}

int simple_torch_all_gather(void* group, const void* const* outputs, size_t n, const void* input, void** work,
                            char* error, size_t len) {
  std::vector<std::vector<at::Tensor>> output_lists{tensor_list(outputs, n)};
  std::vector<at::Tensor> inputs{tensor(input)};
  auto kept = output_lists[0];
  kept.push_back(inputs[0]);
  return start(work, kept, error, len, [&] { return backend(group).allgather(output_lists, inputs); });
}

int simple_torch_all_gather_into_tensor(void* group, const void* output, const void* input, void** work, char* error,
                                        size_t len) {
  at::Tensor out = tensor(output), in = tensor(input);
  return start(work, {out, in}, error, len, [&] { return backend(group)._allgather_base(out, in); });
}

int simple_torch_reduce_scatter_tensor(void* group, const void* output, const void* input, int32_t op, void** work,
                                       char* error, size_t len) {
  at::Tensor out = tensor(output), in = tensor(input);
  return start(work, {out, in}, error, len, [&] {
    // Gloo aborts the process (a glog CHECK) on shapes that do not fit: check them here first.
    auto size = backend(group).getSize();
    TORCH_CHECK(out.dim() >= 1 && in.dim() == out.dim() && in.size(0) == out.size(0) * size &&
                    in.sizes().slice(1) == out.sizes().slice(1),
                "reduce_scatter_tensor: the input must have world size (", size, ") times the output's rows, and the "
                "output's other dims; got input ", in.sizes(), " and output ", out.sizes());
    c10d::ReduceScatterOptions options;
    options.reduceOp = reduce_op(op);
    return backend(group)._reduce_scatter_base(out, in, options);
  });
}

// Empty split sizes mean equal splits along dim 0.
int simple_torch_all_to_all_single(void* group, const void* output, const void* input, const int64_t* output_splits,
                                   size_t n_output_splits, const int64_t* input_splits, size_t n_input_splits,
                                   void** work, char* error, size_t len) {
  at::Tensor out = tensor(output), in = tensor(input);
  std::vector<int64_t> out_counts(output_splits, output_splits + n_output_splits);
  std::vector<int64_t> in_counts(input_splits, input_splits + n_input_splits);
  return start(work, {out, in}, error, len,
               [&] { return backend(group).alltoall_base(out, in, out_counts, in_counts); });
}

int simple_torch_barrier(void* group, void** work, char* error, size_t len) {
  return start(work, {}, error, len, [&] { return backend(group).barrier(); });
}

int simple_torch_send(void* group, const void* t, int32_t dst, int32_t tag, void** work, char* error, size_t len) {
  std::vector<at::Tensor> tensors{tensor(t)};
  return start(work, tensors, error, len, [&] { return backend(group).send(tensors, dst, tag); });
}

// From rank `src`, or from any rank when src < 0 (simple_torch_work_source_rank then tells which).
int simple_torch_recv(void* group, const void* t, int32_t src, int32_t tag, void** work, char* error, size_t len) {
  std::vector<at::Tensor> tensors{tensor(t)};
  return start(work, tensors, error, len, [&] {
    return src < 0 ? backend(group).recvAnysource(tensors, tag) : backend(group).recv(tensors, src, tag);
  });
}

// ---- works -------------------------------------------------------------------------------------

// Waits up to timeout_ms (< 0: until done): *done is 1 once it finished, 0 if the time ran out
// first; a failed collective is an error with the backend's message.
int simple_torch_work_wait(void* work, int64_t timeout_ms, int* done, char* error, size_t len) {
  return guarded(error, len, [&] {
    auto& w = *static_cast<WorkBox*>(work)->work;
    if (timeout_ms < 0) {
      w.wait();
    } else if (timeout_ms == 0) {  // only look (c10d reads a timeout of 0 as "none")
      if (!w.isCompleted()) {
        *done = 0;
        return;
      }
      w.wait();
    } else {
      try {
        w.wait(millis(timeout_ms));
      } catch (const c10::Error&) {
        if (w.isCompleted()) throw;  // the collective failed
        *done = 0;                   // still running: Work::wait says "timed out"
        return;
      }
    }
    *done = 1;
  });
}

// 1 once finished (successfully or not: wait says which), 0 while running.
int32_t simple_torch_work_is_completed(void* work) { return static_cast<WorkBox*>(work)->work->isCompleted() ? 1 : 0; }

int simple_torch_work_source_rank(void* work, int32_t* rank, char* error, size_t len) {
  return guarded(error, len, [&] { *rank = static_cast<WorkBox*>(work)->work->sourceRank(); });
}

void simple_torch_work_free(void* work) { delete static_cast<WorkBox*>(work); }

}  // extern "C"
