// The generic operator entry's C++ half (rust/abi/ops.rs is the other): the table of operators
// libtorch registers, and one call that checks tagged values against an operator's schema,
// builds its boxed stack and runs it.
//
// Rust hands over values whose tensor handles are already resolved to `at::Tensor*` (kept alive
// by Rust for the call), and gets results back the same way: a tensor result is either one of
// those argument pointers (the very same tensor, as in-place and out= forms return) or a new
// heap `at::Tensor` that Rust takes over. Nothing here knows about handles.
//
// The call goes through OperatorHandle::callBoxed, so autograd and every dispatch key apply as
// in PyTorch. callBoxed trusts its stack; everything it will read is checked first: the count,
// each tag against the argument's real type, and defaults for what was left out.

#include <ATen/ScalarOps.h>
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/function_schema.h>
#include <ATen/core/ivalue.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>
#include <c10/util/SmallVector.h>

#include <algorithm>
#include <limits>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "simple_torch.h"  // RtTorchValue and the RT_TORCH_VALUE_* / RT_TORCH_ERROR_* codes

namespace {

// ---- the operator table --------------------------------------------------------------------

struct Op {
  c10::OperatorHandle handle;
  std::string schema;  // c10::toString(schema): PyTorch's own syntax
};

std::string full_name(const c10::OperatorName& name) {
  return name.overload_name.empty() ? name.name : name.name + "." + name.overload_name;
}

// Ids index `ops`, which is filled once, sorted by name, from the operators registered at the
// first use (so ids depend on what the process had loaded then: hosts look them up by name), and
// then only appended to, under the mutex, for operators registered later. Its
// capacity is reserved up front so that readers never see it move: they read `size` and then
// only entries below it.
class Table {
 public:
  static Table& get() {
    static Table table;
    return table;
  }

  int64_t size() const { return static_cast<int64_t>(size_.load(std::memory_order_acquire)); }

  const Op* at(int64_t id) const { return id >= 0 && id < size() ? ops_[id].get() : nullptr; }

  // The id of "name.overload", registering an operator that appeared after the table was made.
  int64_t find(const std::string& name, const std::string& overload) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = overload.empty() ? name : name + "." + overload;
    auto found = ids_.find(key);
    if (found != ids_.end()) return found->second;
    auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
    if (!handle || ops_.size() == ops_.capacity()) return -1;
    return add(*handle);
  }

  // What a person may have meant by `name`: its overloads, or the operators named most alike.
  std::string suggest(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> overloads;
    std::vector<std::pair<size_t, std::string>> near;
    std::string last;
    for (const auto& op : ops_) {
      const auto& op_name = op->handle.operator_name();
      if (op_name.name == name) overloads.push_back(op_name.overload_name.empty() ? "(default)" : op_name.overload_name);
      if (op_name.name != last) near.emplace_back(distance(name, op_name.name), op_name.name);
      last = op_name.name;
    }
    std::ostringstream text;
    if (!overloads.empty()) {
      text << "its overloads are:";
      for (const auto& overload : overloads) text << " " << overload;
      return text.str();
    }
    std::sort(near.begin(), near.end());
    text << "the closest names are:";
    for (size_t i = 0; i < near.size() && i < 5; i++) text << " " << near[i].second;
    return text.str();
  }

 private:
  Table() {
    auto names = c10::Dispatcher::singleton().getAllOpNames();
    std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) {
      return std::tie(a.name, a.overload_name) < std::tie(b.name, b.overload_name);
    });
    ops_.reserve(names.size() * 2 + 4096);
    for (const auto& name : names) {
      if (auto handle = c10::Dispatcher::singleton().findSchema(name)) add(*handle);
    }
  }

  int64_t add(const c10::OperatorHandle& handle) {
    auto id = static_cast<int64_t>(ops_.size());
    ops_.push_back(std::make_unique<Op>(Op{handle, c10::toString(handle.schema())}));
    ids_.emplace(full_name(handle.operator_name()), id);
    size_.store(ops_.size(), std::memory_order_release);
    return id;
  }

  static size_t distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++) row[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); j++) {
        size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    return row[b.size()];
  }

  std::vector<std::unique_ptr<Op>> ops_;
  std::unordered_map<std::string, int64_t> ids_;
  std::atomic<size_t> size_{0};
  std::mutex mutex_;
};

// ---- errors --------------------------------------------------------------------------------

// A failure with the library's error kind; the message is for a person.
struct Failure {
  int32_t kind;
  std::string message;
};

[[noreturn]] void fail(int32_t kind, std::string message) { throw Failure{kind, std::move(message)}; }

// libtorch's exception classes, as PyTorch's Python bindings map them to Python's.
int32_t kind_of(const c10::Error& error) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error)) return RT_TORCH_ERROR_OUT_OF_MEMORY;
  if (dynamic_cast<const c10::IndexError*>(&error)) return RT_TORCH_ERROR_INDEX;
  if (dynamic_cast<const c10::TypeError*>(&error)) return RT_TORCH_ERROR_TYPE;
  if (dynamic_cast<const c10::NotImplementedError*>(&error)) return RT_TORCH_ERROR_NOT_IMPLEMENTED;
  const std::string text = error.what_without_backtrace();
  for (const char* words : {"no CUDA GPUs are available", "Torch not compiled with CUDA", "invalid device ordinal",
                            "Found no NVIDIA driver", "CUDA driver initialization failed"}) {
    if (text.find(words) != std::string::npos) return RT_TORCH_ERROR_DEVICE;
  }
  if (text.find("can't allocate memory") != std::string::npos || text.find("out of memory") != std::string::npos) {
    return RT_TORCH_ERROR_OUT_OF_MEMORY;
  }
  return RT_TORCH_ERROR_ARGUMENT;
}

const char* tag_name(int32_t tag) {
  switch (tag) {
    case RT_TORCH_VALUE_NONE: return "None";
    case RT_TORCH_VALUE_BOOL: return "a bool";
    case RT_TORCH_VALUE_INT: return "an int";
    case RT_TORCH_VALUE_FLOAT: return "a float";
    case RT_TORCH_VALUE_COMPLEX: return "a complex";
    case RT_TORCH_VALUE_STR: return "a str";
    case RT_TORCH_VALUE_TENSOR: return "a Tensor";
    case RT_TORCH_VALUE_INT_LIST: return "an int list";
    case RT_TORCH_VALUE_FLOAT_LIST: return "a float list";
    case RT_TORCH_VALUE_BOOL_LIST: return "a bool list";
    case RT_TORCH_VALUE_TENSOR_LIST: return "a Tensor list";
    case RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST: return "a Tensor? list";
    case RT_TORCH_VALUE_SCALAR_TYPE: return "a ScalarType";
    case RT_TORCH_VALUE_LAYOUT: return "a Layout";
    case RT_TORCH_VALUE_MEMORY_FORMAT: return "a MemoryFormat";
    case RT_TORCH_VALUE_DEVICE: return "a Device";
    case RT_TORCH_VALUE_GENERATOR: return "a Generator";
    default: return nullptr;
  }
}

// "float32[2, 3] on cpu", as the rest of the library describes tensors.
std::string describe(const at::Tensor& tensor) {
  if (!tensor.defined()) return "an undefined tensor";
  std::ostringstream text;
  text << c10::getDtypeNames(tensor.scalar_type()).first << "[";
  for (size_t i = 0; i < tensor.sizes().size(); i++) text << (i ? ", " : "") << tensor.sizes()[i];
  text << "] on " << tensor.device();
  return text.str();
}

// ---- arguments -----------------------------------------------------------------------------

// A boxed stack kept by each thread between its calls, whose allocation would cost as much as
// the rest of building the stack. A call takes it and gives it back (a nested call, from host
// code that the operator runs, finds none and allocates its own).
thread_local torch::jit::Stack spare_stack;

// One call: its operator, the values given, and the input tensors (for aliasing results).
struct Call {
  const Op& op;
  c10::SmallVector<const at::Tensor*, 8> inputs;
  c10::SmallVector<at::Tensor*, 4> created;  // deleted again if a later result cannot be returned

  std::string op_name() const { return full_name(op.handle.operator_name()); }

  [[noreturn]] void wrong(const c10::Argument& arg, const RtTorchValue& value, const char* why = nullptr) const {
    const char* given = tag_name(value.tag);
    std::ostringstream text;
    text << op_name() << ": argument '" << arg.name() << "' must be " << arg.real_type()->annotation_str() << ", not ";
    if (given) {
      text << given;
    } else {
      text << "a value with the unknown tag " << value.tag;
    }
    if (why) text << " (" << why << ")";
    fail(RT_TORCH_ERROR_TYPE, text.str());
  }

  const at::Tensor& tensor_at(const void* pointer) {
    auto* tensor = static_cast<const at::Tensor*>(pointer);
    inputs.push_back(tensor);
    return *tensor;
  }

  template <class T>
  static c10::ArrayRef<T> items(const RtTorchValue& value) {
    return {static_cast<const T*>(value.ptr), static_cast<size_t>(value.len)};
  }

  c10::IValue convert(const c10::Argument& arg, const c10::TypePtr& type, const RtTorchValue& v) {
    const int32_t tag = v.tag;
    switch (type->kind()) {
      case c10::TypeKind::OptionalType:
        if (tag == RT_TORCH_VALUE_NONE) return c10::IValue();
        return convert(arg, type->castRaw<c10::OptionalType>()->getElementType(), v);
      case c10::TypeKind::TensorType:
        if (tag == RT_TORCH_VALUE_TENSOR) return tensor_at(v.ptr);
        return wrapped_number(arg, v);
      case c10::TypeKind::IntType:
      case c10::TypeKind::SymIntType:
        if (tag != RT_TORCH_VALUE_INT) wrong(arg, v);
        return v.int_value;
      case c10::TypeKind::FloatType:
      case c10::TypeKind::SymFloatType:
        if (tag == RT_TORCH_VALUE_FLOAT) return v.real;
        if (tag == RT_TORCH_VALUE_INT) return static_cast<double>(v.int_value);
        wrong(arg, v);
      case c10::TypeKind::BoolType:
      case c10::TypeKind::SymBoolType:
        if (tag != RT_TORCH_VALUE_BOOL) wrong(arg, v);
        return v.int_value != 0;
      case c10::TypeKind::ComplexType:
        if (tag == RT_TORCH_VALUE_COMPLEX) return c10::complex<double>(v.real, v.imag);
        if (tag == RT_TORCH_VALUE_FLOAT) return c10::complex<double>(v.real, 0);
        if (tag == RT_TORCH_VALUE_INT) return c10::complex<double>(static_cast<double>(v.int_value), 0);
        wrong(arg, v);
      case c10::TypeKind::NumberType:  // Scalar
        return scalar(arg, v);
      case c10::TypeKind::StringType:
        if (tag != RT_TORCH_VALUE_STR) wrong(arg, v);
        return std::string(static_cast<const char*>(v.ptr));
      case c10::TypeKind::ScalarTypeType:
        if (tag != RT_TORCH_VALUE_SCALAR_TYPE) wrong(arg, v);
        if (v.int_value < 0 || v.int_value >= static_cast<int64_t>(c10::ScalarType::NumOptions) ||
            v.int_value == static_cast<int64_t>(c10::ScalarType::Undefined)) {
          wrong(arg, v, ("unknown dtype code " + std::to_string(v.int_value)).c_str());
        }
        return v.int_value;
      case c10::TypeKind::LayoutType:
        if (tag != RT_TORCH_VALUE_LAYOUT) wrong(arg, v);
        if (v.int_value < 0 || v.int_value >= static_cast<int64_t>(c10::Layout::NumOptions)) {
          wrong(arg, v, ("unknown layout code " + std::to_string(v.int_value)).c_str());
        }
        return v.int_value;
      case c10::TypeKind::MemoryFormatType:
        if (tag != RT_TORCH_VALUE_MEMORY_FORMAT) wrong(arg, v);
        if (v.int_value < 0 || v.int_value >= static_cast<int64_t>(c10::MemoryFormat::NumOptions)) {
          wrong(arg, v, ("unknown memory format code " + std::to_string(v.int_value)).c_str());
        }
        return v.int_value;
      case c10::TypeKind::DeviceObjType:
        if (tag != RT_TORCH_VALUE_DEVICE) wrong(arg, v);
        if (v.int_value == RT_TORCH_DEVICE_CPU) return c10::Device(c10::kCPU);
        if (v.int_value < 0 || v.int_value > std::numeric_limits<c10::DeviceIndex>::max()) {
          wrong(arg, v, ("unknown device code " + std::to_string(v.int_value)).c_str());
        }
        return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(v.int_value));
      case c10::TypeKind::GeneratorType:
        if (tag != RT_TORCH_VALUE_GENERATOR) wrong(arg, v);
        return *static_cast<const at::Generator*>(v.ptr);
      case c10::TypeKind::ListType:
        return list(arg, type->castRaw<c10::ListType>()->getElementType(), v);
      default:
        fail(RT_TORCH_ERROR_NOT_IMPLEMENTED, op_name() + ": argument '" + arg.name() + "' has the type " +
                                                 arg.real_type()->annotation_str() +
                                                 ", which the generic entry cannot pass yet");
    }
  }

  // A number where a Tensor goes, as PyTorch's Python bindings make it: a 0-d tensor marked as a
  // wrapped number, which takes no part in choosing the result's dtype (int32 tensor + 3 stays
  // int32; float16 tensor * 2.5 stays float16).
  c10::IValue wrapped_number(const c10::Argument& arg, const RtTorchValue& v) {
    at::Tensor tensor = at::scalar_to_tensor(scalar(arg, v).toScalar());
    tensor.unsafeGetTensorImpl()->set_wrapped_number(true);
    return tensor;
  }

  c10::IValue scalar(const c10::Argument& arg, const RtTorchValue& v) {
    switch (v.tag) {
      case RT_TORCH_VALUE_BOOL: return c10::Scalar(v.int_value != 0);
      case RT_TORCH_VALUE_INT: return c10::Scalar(v.int_value);
      case RT_TORCH_VALUE_FLOAT: return c10::Scalar(v.real);
      case RT_TORCH_VALUE_COMPLEX: return c10::Scalar(c10::complex<double>(v.real, v.imag));
      default: wrong(arg, v);
    }
  }

  c10::IValue list(const c10::Argument& arg, const c10::TypePtr& element, const RtTorchValue& v) {
    const int32_t tag = v.tag;
    switch (element->kind()) {
      case c10::TypeKind::IntType:
      case c10::TypeKind::SymIntType:
        if (tag == RT_TORCH_VALUE_INT && arg.N()) {  // int[2] given as one int: PyTorch repeats it
          return c10::List<int64_t>(std::vector<int64_t>(*arg.N(), v.int_value));
        }
        if (tag != RT_TORCH_VALUE_INT_LIST) wrong(arg, v);
        return c10::List<int64_t>(items<int64_t>(v));
      case c10::TypeKind::FloatType:
        if (tag != RT_TORCH_VALUE_FLOAT_LIST) wrong(arg, v);
        return c10::List<double>(items<double>(v));
      case c10::TypeKind::BoolType: {
        if (tag != RT_TORCH_VALUE_BOOL_LIST) wrong(arg, v);
        c10::List<bool> bools;
        for (auto byte : items<uint8_t>(v)) bools.push_back(byte != 0);
        return bools;
      }
      case c10::TypeKind::NumberType: {  // Scalar[]
        c10::impl::GenericList scalars(c10::NumberType::get());
        if (tag == RT_TORCH_VALUE_INT_LIST) {
          for (auto item : items<int64_t>(v)) scalars.push_back(c10::Scalar(item));
        } else if (tag == RT_TORCH_VALUE_FLOAT_LIST) {
          for (auto item : items<double>(v)) scalars.push_back(c10::Scalar(item));
        } else {
          wrong(arg, v);
        }
        return scalars;
      }
      case c10::TypeKind::TensorType: {
        if (tag != RT_TORCH_VALUE_TENSOR_LIST) wrong(arg, v);
        c10::List<at::Tensor> tensors;
        tensors.reserve(v.len);
        for (auto* pointer : items<const void*>(v)) tensors.push_back(tensor_at(pointer));
        return tensors;
      }
      case c10::TypeKind::OptionalType:
        if (element->castRaw<c10::OptionalType>()->getElementType()->kind() == c10::TypeKind::TensorType) {
          if (tag != RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST && tag != RT_TORCH_VALUE_TENSOR_LIST) wrong(arg, v);
          c10::List<std::optional<at::Tensor>> tensors;
          tensors.reserve(v.len);
          for (auto* pointer : items<const void*>(v)) {
            tensors.push_back(pointer ? std::optional<at::Tensor>(tensor_at(pointer)) : std::nullopt);
          }
          return tensors;
        }
        [[fallthrough]];
      default:
        fail(RT_TORCH_ERROR_NOT_IMPLEMENTED, op_name() + ": argument '" + arg.name() + "' has the type " +
                                                 arg.real_type()->annotation_str() +
                                                 ", which the generic entry cannot pass yet");
    }
  }

  // The boxed stack: every argument of the schema, from the values given or its default.
  torch::jit::Stack stack(const RtTorchValue* values, int64_t count) {
    const auto& arguments = op.handle.schema().arguments();
    c10::SmallVector<const RtTorchValue*, 16> given(arguments.size(), nullptr);
    size_t positional = 0;
    while (positional < static_cast<size_t>(count) && values[positional].name == nullptr) positional++;
    size_t accepted = 0;
    while (accepted < arguments.size() && !arguments[accepted].kwarg_only()) accepted++;
    if (positional > accepted) {
      fail(RT_TORCH_ERROR_TYPE, op_name() + " takes " + std::to_string(accepted) + " positional arguments but " +
                                    std::to_string(positional) + " were given: " + op.schema);
    }
    for (size_t i = 0; i < positional; i++) given[i] = &values[i];
    for (size_t i = positional; i < static_cast<size_t>(count); i++) {
      if (values[i].name == nullptr) {
        fail(RT_TORCH_ERROR_TYPE, op_name() + ": positional argument " + std::to_string(i) +
                                      " follows a keyword argument");
      }
      const char* name = values[i].name;
      auto found = std::find_if(arguments.begin(), arguments.end(), [&](const auto& a) { return a.name() == name; });
      if (found == arguments.end()) {
        fail(RT_TORCH_ERROR_TYPE, op_name() + " has no argument named '" + name + "': " + op.schema);
      }
      auto& slot = given[found - arguments.begin()];
      if (slot) fail(RT_TORCH_ERROR_TYPE, op_name() + " got two values for argument '" + name + "'");
      slot = &values[i];
    }
    // This thread's spare stack, if it has one (see spare_stack): its buffer, not a new one.
    torch::jit::Stack stack = std::move(spare_stack);
    stack.clear();
    stack.reserve(arguments.size());
    for (size_t i = 0; i < arguments.size(); i++) {
      const auto& arg = arguments[i];
      if (given[i]) {
        stack.push_back(convert(arg, arg.real_type(), *given[i]));
      } else if (arg.default_value()) {
        stack.push_back(*arg.default_value());
      } else {
        fail(RT_TORCH_ERROR_TYPE, op_name() + " is missing argument '" + arg.name() + "': " + op.schema);
      }
    }
    return stack;
  }

  // "aten::mm(float32[2, 3] on cpu, float32[4, 5] on cpu)": the call, for libtorch's errors.
  std::string described(const torch::jit::Stack& stack) const {
    std::ostringstream text;
    text << op_name() << "(";
    for (size_t i = 0; i < stack.size(); i++) {
      const auto& value = stack[i];
      text << (i ? ", " : "");
      if (value.isTensor()) {
        text << describe(value.toTensor());
      } else if (value.isTensorList()) {
        auto tensors = value.toTensorList();
        text << "[";
        for (size_t j = 0; j < tensors.size() && j < 4; j++) text << (j ? ", " : "") << describe(tensors.get(j));
        text << (tensors.size() > 4 ? ", ...]" : "]");
      } else {
        std::ostringstream shown;
        shown << value;
        text << shown.str().substr(0, 40);
      }
    }
    text << ")";
    return text.str();
  }

  // ---- results -----------------------------------------------------------------------------

  // The argument's own pointer when `result` is one of the input tensors (and that may be said:
  // not inside a list, whose handles are all the caller's to free), else a new tensor.
  void* own(at::Tensor result, int32_t* from_argument, bool may_be_argument = true) {
    for (const auto* input : may_be_argument ? inputs : c10::ArrayRef<const at::Tensor*>()) {
      if (input->defined() && input->unsafeGetTensorImpl() == result.unsafeGetTensorImpl()) {
        *from_argument = 1;
        return const_cast<at::Tensor*>(input);
      }
    }
    *from_argument = 0;
    created.push_back(new at::Tensor(std::move(result)));
    return created.back();
  }
};

// The results of this thread's last call that do not fit in one value: tensor lists (pointers
// for Rust to turn into handles), int lists and strings (read by the caller until its next call).
struct Held {
  std::vector<std::vector<void*>> tensor_lists;
  std::vector<std::vector<int64_t>> int_lists;
  std::vector<std::string> strings;

  // Room for `count` results of each kind, so that no result's pointer moves while the others
  // are added.
  void reset(size_t count) {
    tensor_lists.clear();
    int_lists.clear();
    strings.clear();
    tensor_lists.reserve(count);
    int_lists.reserve(count);
    strings.reserve(count);
  }
};
thread_local Held held_results;

RtTorchValue result_of(Call& call, c10::IValue value, const c10::Argument& declared, Held& held) {
  RtTorchValue out{};
  const auto kind = declared.real_type()->kind();
  if (value.isNone() || (value.isTensor() && !value.toTensor().defined())) {
    out.tag = RT_TORCH_VALUE_NONE;
  } else if (value.isTensor()) {
    out.tag = RT_TORCH_VALUE_TENSOR;
    out.ptr = call.own(std::move(value).toTensor(), &out.from_argument);
  } else if (value.isTensorList() || value.isList()) {
    std::vector<void*> pointers;
    if (value.isTensorList()) {
      for (const at::Tensor& tensor : value.toTensorVector()) pointers.push_back(call.own(tensor, &out.from_argument, false));
      out.tag = RT_TORCH_VALUE_TENSOR_LIST;
    } else if (value.isIntList()) {
      held.int_lists.push_back(value.toIntVector());
      out.tag = RT_TORCH_VALUE_INT_LIST;
      out.ptr = held.int_lists.back().data();
      out.len = static_cast<int64_t>(held.int_lists.back().size());
      return out;
    } else {
      for (const auto& item : value.toListRef()) {
        if (item.isNone()) {
          pointers.push_back(nullptr);
        } else if (item.isTensor()) {
          pointers.push_back(call.own(item.toTensor(), &out.from_argument, false));
        } else {
          fail(RT_TORCH_ERROR_NOT_IMPLEMENTED, call.op_name() + " returned a list of " + item.tagKind() +
                                                   ", which the generic entry cannot return yet");
        }
      }
      out.tag = RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST;
    }
    out.from_argument = 0;
    out.len = static_cast<int64_t>(pointers.size());
    held.tensor_lists.push_back(std::move(pointers));
    out.ptr = held.tensor_lists.back().data();
  } else if (value.isBool()) {
    out.tag = RT_TORCH_VALUE_BOOL;
    out.int_value = value.toBool();
  } else if (value.isInt() || value.isSymInt()) {
    out.tag = kind == c10::TypeKind::ScalarTypeType     ? RT_TORCH_VALUE_SCALAR_TYPE
              : kind == c10::TypeKind::LayoutType       ? RT_TORCH_VALUE_LAYOUT
              : kind == c10::TypeKind::MemoryFormatType ? RT_TORCH_VALUE_MEMORY_FORMAT
                                                        : RT_TORCH_VALUE_INT;
    out.int_value = value.isInt() ? value.toInt() : value.toSymInt().guard_int(__FILE__, __LINE__);
  } else if (value.isDouble() || value.isSymFloat()) {
    out.tag = RT_TORCH_VALUE_FLOAT;
    out.real = value.isDouble() ? value.toDouble() : value.toSymFloat().guard_float(__FILE__, __LINE__);
  } else if (value.isComplexDouble()) {
    auto number = value.toComplexDouble();
    out.tag = RT_TORCH_VALUE_COMPLEX;
    out.real = number.real();
    out.imag = number.imag();
  } else if (value.isString()) {
    held.strings.push_back(value.toStringRef());
    out.tag = RT_TORCH_VALUE_STR;
    out.ptr = held.strings.back().c_str();
  } else if (value.isDevice()) {
    auto device = value.toDevice();
    out.tag = RT_TORCH_VALUE_DEVICE;
    out.int_value = device.is_cpu() ? RT_TORCH_DEVICE_CPU : device.index();
  } else {
    fail(RT_TORCH_ERROR_NOT_IMPLEMENTED,
         call.op_name() + " returned " + value.tagKind() + ", which the generic entry cannot return yet");
  }
  return out;
}

// The last failure on this thread, for Rust to read after a -1 (see simple_torch_op_error).
thread_local Failure last_failure;

template <class Body>
int64_t guarded(Body body) {
  try {
    return body();
  } catch (Failure& failure) {
    last_failure = std::move(failure);
  } catch (const std::bad_alloc&) {
    last_failure = {RT_TORCH_ERROR_OUT_OF_MEMORY, "out of memory"};
  } catch (const std::exception& e) {
    last_failure = {RT_TORCH_ERROR_ARGUMENT, e.what()};
  } catch (...) {
    last_failure = {RT_TORCH_ERROR_INTERNAL, "unknown C++ exception"};
  }
  return -1;
}

}  // namespace

extern "C" {

int64_t simple_torch_op_count(void) {
  try {
    return Table::get().size();
  } catch (...) {
    return -1;
  }
}

// The message and kind of this thread's last failed simple_torch_op_find or _call.
const char* simple_torch_op_error(int32_t* kind) {
  *kind = last_failure.kind;
  return last_failure.message.c_str();
}

int64_t simple_torch_op_find(const char* name, const char* overload) {
  return guarded([&]() -> int64_t {
    auto& table = Table::get();
    auto id = table.find(name, overload);
    if (id < 0) {
      std::string full = *overload ? std::string(name) + "." + overload : std::string(name);
      fail(RT_TORCH_ERROR_ARGUMENT, "no operator " + full + "; " + table.suggest(name));
    }
    return id;
  });
}

const char* simple_torch_op_schema(int64_t id) {
  try {
    const Op* op = Table::get().at(id);
    return op ? op->schema.c_str() : nullptr;
  } catch (...) {
    return nullptr;
  }
}

int64_t simple_torch_op_call(int64_t id, const RtTorchValue* args, int64_t n_args, RtTorchValue* out, int64_t out_cap) {
  return guarded([&]() -> int64_t {
    const Op* op = Table::get().at(id);
    if (!op) {
      fail(RT_TORCH_ERROR_ARGUMENT, std::to_string(id) + " is not an operator id (ids are 0 to " +
                                        std::to_string(Table::get().size() - 1) + ")");
    }
    const auto& returns = op->handle.schema().returns();
    Call call{*op, {}};
    if (static_cast<int64_t>(returns.size()) > out_cap) {
      fail(RT_TORCH_ERROR_ARGUMENT, call.op_name() + " returns " + std::to_string(returns.size()) +
                                        " values but out has room for " + std::to_string(out_cap));
    }
    auto stack = call.stack(args, n_args);
    // A kernel that fails may have moved its arguments out of the stack already: the message
    // describes a fresh one, built again from the same values (only on failure, so free).
    auto described = [&] { return call.described(call.stack(args, n_args)); };
    try {
      op->handle.callBoxed(stack);
    } catch (const c10::Error& e) {
      fail(kind_of(e), described() + ": " + e.what_without_backtrace());
    } catch (const std::bad_alloc&) {
      fail(RT_TORCH_ERROR_OUT_OF_MEMORY, described() + ": out of memory");
    } catch (const std::exception& e) {
      fail(RT_TORCH_ERROR_ARGUMENT, described() + ": " + e.what());
    }
    if (stack.size() != returns.size()) {
      fail(RT_TORCH_ERROR_INTERNAL, call.op_name() + " left " + std::to_string(stack.size()) +
                                        " values on the stack for " + std::to_string(returns.size()) + " returns");
    }
    auto& held = held_results;  // one look-up of the thread-local
    held.reset(returns.size());
    try {
      for (size_t i = 0; i < returns.size(); i++) out[i] = result_of(call, std::move(stack[i]), returns[i], held);
    } catch (...) {
      for (auto* tensor : call.created) delete tensor;
      throw;
    }
    stack.clear();
    spare_stack = std::move(stack);  // for this thread's next call
    return static_cast<int64_t>(returns.size());
  });
}

}  // extern "C"
