// Autograd's C++ half (rust/abi/autograd.rs is the Rust side): gradients of
// tensors, backward and grad, grad mode, inference mode, autocast state, and the two places
// where libtorch's autograd engine calls back into the host: custom functions and tensor hooks.
//
// Rust hands over `at::Tensor*` it keeps alive for the call and takes over the new heap
// `at::Tensor`s returned here. Every function catches C++ exceptions and returns -1 with the
// message in `error` (guarded.h), as rust/shim.cpp's do.
//
// Custom functions reuse libtorch's own machinery for C++ custom functions
// (torch::autograd::Function / CppNode): the host has already run its forward with grad mode off
// and hands over the inputs, the outputs and what to save; HostFunction::forward returns those
// outputs, so that libtorch wraps them (views, dirty inputs, non-differentiable outputs), saves
// the tensors as SavedVariables (whose version check gives torch's "modified by an inplace
// operation" error), and materializes undefined gradients, exactly as for its own functions. Its
// backward calls the host through rust/abi/autograd.rs, which turns tensors into handles.

#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "guarded.h"
#include "simple_torch.h"  // RtTorchAutogradHost

using torch::autograd::variable_list;

namespace {

variable_list tensors(at::Tensor* const* pointers, int64_t count) {
  variable_list list;
  list.reserve(count);
  for (int64_t i = 0; i < count; ++i) list.push_back(pointers[i] ? *pointers[i] : at::Tensor());
  return list;
}

// Undefined tensors become NULL: "no gradient" (None in Python).
void give(const variable_list& list, at::Tensor** out) {
  for (size_t i = 0; i < list.size(); ++i) out[i] = list[i].defined() ? new at::Tensor(list[i]) : nullptr;
}

}  // namespace

// Implemented in Rust (rust/abi/autograd.rs): registers `grads` and `saved` as new handles, calls the
// host's backward with them, and writes the tensors behind the handles it returns into `results`
// (new heap tensors, NULL for none). -1 with the host's message in `error` if it failed.
extern "C" int simple_torch_call_host(const RtTorchAutogradHost* host, int64_t token, at::Tensor* const* grads,
                                      int64_t n_grads, at::Tensor* const* saved, int64_t n_saved,
                                      at::Tensor** results, int64_t n_results, char* error, size_t error_len);

namespace {

// What the host hands over for one custom function call (see the file comment).
struct HostCall {
  const RtTorchAutogradHost* host;
  int64_t token;
  std::string name;
  int64_t n_inputs;
  bool materialize_grads;
  variable_list outputs, to_save, dirty, non_differentiable;
};

// Tells the host when libtorch drops the node (and with it the host's state for `token`).
struct HostToken : torch::CustomClassHolder {
  const RtTorchAutogradHost* host;
  int64_t token;
  HostToken(const RtTorchAutogradHost* host, int64_t token) : host(host), token(token) {}
  ~HostToken() override {
    if (host && host->release) host->release(token);
  }
};

variable_list call_host(const RtTorchAutogradHost* host, int64_t token, const variable_list& grads,
                        const variable_list& saved, size_t n_results) {
  TORCH_CHECK(host->backward, "the host that made this autograd node has shut down");
  std::vector<at::Tensor*> grad_pointers, saved_pointers;
  for (auto& t : grads) grad_pointers.push_back(t.defined() ? const_cast<at::Tensor*>(&t) : nullptr);
  for (auto& t : saved) saved_pointers.push_back(const_cast<at::Tensor*>(&t));
  std::vector<at::Tensor*> results(n_results, nullptr);
  char error[4096] = "";
  if (simple_torch_call_host(host, token, grad_pointers.data(), grad_pointers.size(), saved_pointers.data(),
                             saved_pointers.size(), results.data(), n_results, error, sizeof error) != 0) {
    throw std::runtime_error(error);
  }
  variable_list list;
  for (auto* result : results) {
    list.push_back(result ? std::move(*result) : at::Tensor());
    delete result;
  }
  return list;
}

struct HostFunction : torch::autograd::Function<HostFunction> {
  static variable_list forward(torch::autograd::AutogradContext* ctx, at::TensorList inputs, const HostCall* call) {
    ctx->saved_data["name"] = call->name;
    ctx->saved_data["host"] = c10::IValue::make_capsule(c10::make_intrusive<HostToken>(call->host, call->token));
    ctx->saved_data["inputs"] = call->n_inputs;
    ctx->set_materialize_grads(call->materialize_grads);
    ctx->save_for_backward(call->to_save);
    if (!call->dirty.empty()) ctx->mark_dirty(call->dirty);
    if (!call->non_differentiable.empty()) ctx->mark_non_differentiable(call->non_differentiable);
    return call->outputs;
  }

  // One gradient per input tensor, plus none for `call` (not a tensor).
  static variable_list backward(torch::autograd::AutogradContext* ctx, variable_list grads) {
    auto token = ctx->saved_data["host"].toCapsule();
    auto* holder = static_cast<HostToken*>(token.get());
    auto saved = ctx->get_saved_variables();
    auto n_inputs = ctx->saved_data["inputs"].toInt();
    auto results = call_host(holder->host, holder->token, grads, saved, n_inputs);
    results.emplace_back();
    return results;
  }
};

using HostNode = torch::autograd::CppNode<HostFunction>;

thread_local std::vector<std::unique_ptr<c10::InferenceMode>> inference_modes;

c10::DeviceType device_type(const std::string& name) {
  TORCH_CHECK(name == "cpu" || name == "cuda", "autocast supports the device types 'cpu' and 'cuda', not '", name, "'");
  return name == "cpu" ? c10::DeviceType::CPU : c10::DeviceType::CUDA;
}

}  // namespace

extern "C" {

// ---- a tensor's gradient -------------------------------------------------------------------

int simple_torch_grad(const at::Tensor* t, at::Tensor** out, char* error, size_t len) {
  return guarded(error, len, [&] {
    const auto& grad = t->grad();
    *out = grad.defined() ? new at::Tensor(grad) : nullptr;
  });
}

// `t.grad = grad` (NULL: None), with the checks and messages of torch's Python setter.
int simple_torch_set_grad(const at::Tensor* t, const at::Tensor* grad, char* error, size_t len) {
  return guarded(error, len, [&] {
    if (!grad) {
      t->mutable_grad().reset();
      return;
    }
    TORCH_CHECK(t->dtype() == grad->dtype(), "attempting to assign a gradient with dtype '", grad->dtype(),
                "' to a tensor with dtype '", t->dtype(), "'. Please ensure that the gradient and the tensor have the same dtype");
    TORCH_CHECK(t->device().type() == grad->device().type(), "attempting to assign a gradient with device type '",
                grad->device().type(), "' to a tensor with device type '", t->device().type(),
                "'. Please ensure that the gradient and the tensor are on the same device");
    TORCH_CHECK(t->sizes() == grad->sizes(), "attempting to assign a gradient of size '", grad->sizes(),
                "' to a tensor of size '", t->sizes(), "'. Please ensure that the gradient and the tensor are the same size");
    t->mutable_grad() = *grad;
  });
}

// The name of the node that made `t` ("AddBackward0"; a custom function's own name), "" for none.
int simple_torch_grad_fn(const at::Tensor* t, char* name, size_t name_len, char* error, size_t len) {
  return guarded(error, len, [&] {
    std::string text;
    if (const auto& node = t->grad_fn()) {
      auto* host = dynamic_cast<HostNode*>(node.get());
      text = host ? host->ctx_.saved_data["name"].toStringRef() : node->name();
    }
    std::snprintf(name, name_len, "%s", text.c_str());
  });
}

// torch.autograd.backward. `retain_graph` -1 is None (then create_graph decides).
int simple_torch_backward(at::Tensor* const* roots, int64_t n_roots, at::Tensor* const* grads, int64_t n_grads,
                          int retain_graph, int create_graph, at::Tensor* const* inputs, int64_t n_inputs, char* error,
                          size_t len) {
  return guarded(error, len, [&] {
    std::optional<bool> retain;
    if (retain_graph >= 0) retain = retain_graph != 0;
    torch::autograd::backward(tensors(roots, n_roots), tensors(grads, n_grads), retain, create_graph != 0,
                              tensors(inputs, n_inputs));
  });
}

// torch.autograd.grad: one result per input, NULL where an unused input has none.
int simple_torch_autograd_grad(at::Tensor* const* roots, int64_t n_roots, at::Tensor* const* grads, int64_t n_grads,
                               at::Tensor* const* inputs, int64_t n_inputs, int retain_graph, int create_graph,
                               int allow_unused, at::Tensor** out, char* error, size_t len) {
  return guarded(error, len, [&] {
    std::optional<bool> retain;
    if (retain_graph >= 0) retain = retain_graph != 0;
    auto results = torch::autograd::grad(tensors(roots, n_roots), tensors(inputs, n_inputs), tensors(grads, n_grads),
                                         retain, create_graph != 0, allow_unused != 0);
    give(results, out);
  });
}

// ---- grad mode, inference mode and autocast: per thread, as in libtorch ----------------------

int simple_torch_grad_mode(int enable) {
  bool previous = c10::GradMode::is_enabled();
  if (enable >= 0) c10::GradMode::set_enabled(enable != 0);
  return previous;
}

int simple_torch_inference_mode(int enter, int enabled, char* error, size_t len) {
  return guarded(error, len, [&] {
    if (enter) {
      inference_modes.push_back(std::make_unique<c10::InferenceMode>(enabled != 0));
    } else {
      TORCH_CHECK(!inference_modes.empty(), "no inference mode was entered on this thread");
      inference_modes.pop_back();
    }
  });
}

int simple_torch_is_inference_mode_enabled(void) { return c10::InferenceMode::is_enabled(); }

// Reads, and where `enabled` >= 0 sets, the autocast state of a device type; the dtype code is
// c10's ScalarType number (-1: leave it).
int simple_torch_autocast(const char* device, int enabled, int dtype, int* was_enabled, int* was_dtype, char* error,
                          size_t len) {
  return guarded(error, len, [&] {
    auto type = device_type(device);
    *was_enabled = at::autocast::is_autocast_enabled(type);
    *was_dtype = static_cast<int>(at::autocast::get_autocast_dtype(type));
    if (enabled >= 0) at::autocast::set_autocast_enabled(type, enabled != 0);
    if (dtype >= 0) at::autocast::set_autocast_dtype(type, static_cast<at::ScalarType>(dtype));
  });
}

// Entering (+1) or leaving (-1) an autocast region; leaving the outermost clears the cast cache.
int simple_torch_autocast_nesting(int delta, int* level, char* error, size_t len) {
  return guarded(error, len, [&] {
    TORCH_CHECK(delta == 1 || delta == -1, "delta must be 1 (enter) or -1 (leave), not ", delta);
    if (delta > 0) {
      *level = at::autocast::increment_nesting();
      return;
    }
    *level = at::autocast::decrement_nesting();
    if (*level < 0) {
      at::autocast::increment_nesting();
      TORCH_CHECK(false, "no autocast region was entered on this thread");
    }
    if (*level == 0) at::autocast::clear_cache();
  });
}

// ---- the host's code in the graph ----------------------------------------------------------

// Applies a custom function whose forward the host ran: returns the outputs, attached to a new
// node whose backward calls `host` with `token` (writes n_outputs new tensors into `out`).
int simple_torch_function_apply(const RtTorchAutogradHost* host, int64_t token, const char* name,
                                at::Tensor* const* inputs, int64_t n_inputs, at::Tensor* const* outputs,
                                int64_t n_outputs, at::Tensor* const* to_save, int64_t n_save,
                                at::Tensor* const* dirty, int64_t n_dirty, at::Tensor* const* non_differentiable,
                                int64_t n_non_differentiable, int materialize_grads, at::Tensor** out, char* error,
                                size_t len) {
  return guarded(error, len, [&] {
    HostCall call{host,
                  token,
                  name,
                  n_inputs,
                  materialize_grads != 0,
                  tensors(outputs, n_outputs),
                  tensors(to_save, n_save),
                  tensors(dirty, n_dirty),
                  tensors(non_differentiable, n_non_differentiable)};
    auto input_list = tensors(inputs, n_inputs);
    auto results = HostFunction::apply(at::TensorList(input_list), &call);
    give(results, out);
  });
}

// `t.register_hook(...)`: the host's backward gets the gradient and returns a replacement (or
// none: keep it). Writes the hook's id for simple_torch_remove_hook.
int simple_torch_register_hook(const at::Tensor* t, const RtTorchAutogradHost* host, int64_t token, int64_t* id,
                               char* error, size_t len) {
  return guarded(error, len, [&] {
    auto holder = std::make_shared<HostToken>(host, token);
    try {
      *id = t->register_hook([holder](at::Tensor grad) -> at::Tensor {
        return call_host(holder->host, holder->token, {grad}, {}, 1)[0];
      });
    } catch (...) {
      holder->host = nullptr;  // the host keeps what it passed: there is no node to release it
      throw;
    }
  });
}

int simple_torch_remove_hook(const at::Tensor* t, int64_t id, char* error, size_t len) {
  return guarded(error, len, [&] { t->remove_hook(static_cast<unsigned>(id)); });
}

}  // extern "C"

namespace {

// A leaf's post-accumulate-grad hooks: libtorch keeps one such object per tensor, which runs
// the host's hooks in the order they were registered, after the gradient is accumulated into
// `.grad` (torch's register_post_accumulate_grad_hook; what DistributedDataParallel needs).
struct HostPostAccumulateHooks : torch::autograd::PostAccumulateGradHook {
  std::mutex mutex;
  std::vector<std::pair<int64_t, std::shared_ptr<HostToken>>> hooks;
  int64_t next_id = 0;

  void operator()(const torch::autograd::Variable& tensor) override {
    decltype(hooks) current;
    {
      std::lock_guard<std::mutex> lock(mutex);
      current = hooks;  // a hook may remove itself
    }
    for (auto& hook : current) call_host(hook.second->host, hook.second->token, {tensor}, {}, 0);
  }
};

HostPostAccumulateHooks& post_accumulate_hooks(const at::Tensor& t) {
  auto& slot = torch::autograd::impl::post_acc_grad_hooks(t);
  if (!slot) torch::autograd::impl::set_post_acc_grad_hooks(t, std::make_unique<HostPostAccumulateHooks>());
  auto* hooks = dynamic_cast<HostPostAccumulateHooks*>(slot.get());
  TORCH_CHECK(hooks, "the tensor has post-accumulate-grad hooks from another library");
  return *hooks;
}

}  // namespace

extern "C" {

// `t.register_post_accumulate_grad_hook(...)`: the host's backward gets the tensor itself (its
// .grad now accumulated) and returns nothing. Writes the hook's id.
int simple_torch_register_post_accumulate_grad_hook(const at::Tensor* t, const RtTorchAutogradHost* host, int64_t token,
                                                    int64_t* id, char* error, size_t len) {
  return guarded(error, len, [&] {
    auto holder = std::make_shared<HostToken>(host, token);
    try {
      TORCH_CHECK(t->requires_grad(), "cannot register a hook on a tensor that doesn't require gradient");
      TORCH_CHECK(t->is_leaf(), "post accumulate grad hooks cannot be registered on non-leaf tensors");
      auto& hooks = post_accumulate_hooks(*t);
      std::lock_guard<std::mutex> lock(hooks.mutex);
      *id = hooks.next_id++;
      hooks.hooks.emplace_back(*id, holder);
    } catch (...) {
      holder->host = nullptr;  // the host keeps what it passed: nothing holds the hook
      throw;
    }
  });
}

int simple_torch_remove_post_accumulate_grad_hook(const at::Tensor* t, int64_t id, char* error, size_t len) {
  return guarded(error, len, [&] {
    auto& hooks = post_accumulate_hooks(*t);
    std::lock_guard<std::mutex> lock(hooks.mutex);
    auto& list = hooks.hooks;
    list.erase(std::remove_if(list.begin(), list.end(), [&](const auto& hook) { return hook.first == id; }), list.end());
  });
}

}  // extern "C"
