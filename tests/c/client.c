/* A C program that drives libsimple_torch.so without Python: builds tensors, computes, reads
 * the numbers back and checks them exactly, then walks every error path and checks the message
 * and kind of each. Prints what it checked; exits 1 at the first failure, saying what failed.
 *
 * Build: cc -Wall -Wextra -Werror -std=c11 -I<get_include()> client.c <get_library()>
 *           -Wl,-rpath,<its folder> -o client */

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simple_torch.h"

static int checks = 0;

static void fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "FAILED: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    const char *error = rt_torch_last_error();
    fprintf(stderr, "  (rt_torch_last_error: %s)\n", error ? error : "NULL");
    exit(1);
}

static void ok(const char *what) {
    checks++;
    printf("ok: %s\n", what);
}

/* The last call succeeded: no message, kind NONE. */
static void no_error(const char *what) {
    const char *error = rt_torch_last_error();
    if (error != NULL) fail("%s: unexpected error: %s", what, error);
    if (rt_torch_last_error_kind() != RT_TORCH_ERROR_NONE)
        fail("%s: last_error_kind is %d after a success", what, (int)rt_torch_last_error_kind());
}

/* A handle the last call returned: not NULL, no error. */
static TorchTensor *made(TorchTensor *t, const char *what) {
    if (t == NULL) fail("%s returned NULL", what);
    no_error(what);
    return t;
}

/* The last call failed: a message that starts with `function: ` and holds `words`, and `kind`.
 * Then a successful call must clear both. */
static void expect_error(const char *function, const char *words, int kind, const char *what) {
    const char *error = rt_torch_last_error();
    if (error == NULL) fail("%s: no error recorded", what);
    size_t length = strlen(function);
    if (strncmp(error, function, length) != 0 || strncmp(error + length, ": ", 2) != 0)
        fail("%s: the message does not start with \"%s: \": %s", what, function, error);
    if (strstr(error, words) == NULL) fail("%s: the message lacks \"%s\": %s", what, words, error);
    int32_t got = rt_torch_last_error_kind();
    if (got != kind) fail("%s: error kind %d, expected %d: %s", what, (int)got, kind, error);
    /* The message stays until the next call, and reading it changes nothing. */
    if (rt_torch_last_error() == NULL || rt_torch_last_error_kind() != kind) fail("%s: reading the error cleared it", what);
    char message[512]; /* the library's copy is valid only until the next call */
    snprintf(message, sizeof message, "%s", error);
    if (rt_torch_live_handles() < 0) fail("live_handles failed");
    no_error("a successful call after an error");
    printf("ok: %s -> %s\n", what, message);
    checks++;
}

static void check_floats(TorchTensor *t, const float *expected, int64_t n, const char *what) {
    float values[64];
    if (n > 64) fail("%s: too many values for this check", what);
    int64_t written = rt_torch_torchtensor_copy_to(t, values, (int64_t)sizeof values);
    no_error(what);
    if (written != n * (int64_t)sizeof(float))
        fail("%s: copy_to wrote %lld bytes, expected %lld", what, (long long)written, (long long)(n * sizeof(float)));
    if (rt_torch_torchtensor_dtype(t) != RT_TORCH_DTYPE_FLOAT32) fail("%s: dtype is not float32", what);
    if (rt_torch_torchtensor_numel(t) != n) fail("%s: numel %lld, expected %lld", what, (long long)rt_torch_torchtensor_numel(t), (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (values[i] != expected[i]) fail("%s: element %lld is %.9g, expected %.9g", what, (long long)i, values[i], expected[i]);
    ok(what);
}

static void check_shape(TorchTensor *t, const int64_t *dims, int64_t ndim, const char *what) {
    int64_t out[8] = {0};
    if (rt_torch_torchtensor_ndim(t) != ndim) fail("%s: ndim %lld, expected %lld", what, (long long)rt_torch_torchtensor_ndim(t), (long long)ndim);
    if (rt_torch_torchtensor_shape(t, out, 8) != ndim) fail("%s: shape() does not return ndim", what);
    no_error(what);
    for (int64_t i = 0; i < ndim; i++)
        if (out[i] != dims[i]) fail("%s: size %lld of dim %lld, expected %lld", what, (long long)out[i], (long long)i, (long long)dims[i]);
    ok(what);
}

static void release(TorchTensor *t) {
    rt_torch_torchtensor_free(t);
    no_error("free");
}

/* ---- the generic operator entry: building arguments, calling, reading results ----
 * Designated initialisers zero every field a tag does not use, as RtTorchValue asks. */

static RtTorchValue tensor_arg(const TorchTensor *t) { return (RtTorchValue){.tag = RT_TORCH_VALUE_TENSOR, .ptr = t}; }
static RtTorchValue int_arg(int64_t i) { return (RtTorchValue){.tag = RT_TORCH_VALUE_INT, .int_value = i}; }
static RtTorchValue float_arg(double x) { return (RtTorchValue){.tag = RT_TORCH_VALUE_FLOAT, .real = x}; }
static RtTorchValue bool_arg(bool b) { return (RtTorchValue){.tag = RT_TORCH_VALUE_BOOL, .int_value = b}; }
static RtTorchValue str_arg(const char *s) { return (RtTorchValue){.tag = RT_TORCH_VALUE_STR, .ptr = s}; }
/* SCALAR_TYPE, LAYOUT, MEMORY_FORMAT and DEVICE: a code in int_value. */
static RtTorchValue code_arg(int32_t tag, int64_t code) { return (RtTorchValue){.tag = tag, .int_value = code}; }
static RtTorchValue ints_arg(const int64_t *items, int64_t n) {
    return (RtTorchValue){.tag = RT_TORCH_VALUE_INT_LIST, .ptr = items, .len = n};
}
/* TENSOR_LIST or OPTIONAL_TENSOR_LIST: an array of handles. */
static RtTorchValue tensors_arg(int32_t tag, TorchTensor *const *handles, int64_t n) {
    return (RtTorchValue){.tag = tag, .ptr = handles, .len = n};
}
/* The same value as a keyword argument. */
static RtTorchValue named(const char *name, RtTorchValue v) {
    v.name = name;
    return v;
}

/* An operator's id, which must exist. */
static int64_t find_op(const char *name, const char *overload) {
    int64_t op = rt_torch_op_find(name, overload);
    if (op < 0) fail("rt_torch_op_find(%s, %s) returned %lld", name, overload ? overload : "NULL", (long long)op);
    no_error("rt_torch_op_find");
    return op;
}

/* Calls `op`, which must succeed and write `expected` results. */
static void call_op(int64_t op, const RtTorchValue *args, int64_t n_args, RtTorchValue *out, int64_t out_cap,
                    int64_t expected, const char *what) {
    int64_t written = rt_torch_op_call(op, args, n_args, out, out_cap);
    if (written != expected) fail("%s: rt_torch_op_call returned %lld, expected %lld", what, (long long)written, (long long)expected);
    no_error(what);
}

/* A result that must be a new tensor, which the caller now owns. */
static TorchTensor *new_tensor(const RtTorchValue *result, const char *what) {
    if (result->tag != RT_TORCH_VALUE_TENSOR) fail("%s: the result's tag is %d, not TENSOR", what, (int)result->tag);
    if (result->from_argument != 0) fail("%s: a new tensor came back with from_argument %d", what, (int)result->from_argument);
    if (result->ptr == NULL) fail("%s: the result's handle is NULL", what);
    return (TorchTensor *)result->ptr;
}

/* The last call failed as expect_error() checks, and also names `more` (a second detail). */
static void expect_error_with(const char *function, const char *words, const char *more, int kind, const char *what) {
    const char *error = rt_torch_last_error();
    if (error != NULL && strstr(error, more) == NULL) fail("%s: the message lacks \"%s\": %s", what, more, error);
    expect_error(function, words, kind, what);
}

/* ---- autograd from C: a custom function and a hook whose backward is C code ----
 * One host for both: token 42 is the custom function "times three", token 7 a hook that
 * doubles the gradient; `refuse` makes the backward fail with a message. */

static int64_t released = 0;
static int refuse = 0;

static int32_t host_backward(int64_t token, TorchTensor *const *grads, int64_t n_grads, TorchTensor *const *saved,
                             int64_t n_saved, TorchTensor **results, int64_t n_results, char *error, size_t error_len) {
    for (int64_t i = 0; i < n_saved; i++) rt_torch_torchtensor_free(saved[i]);  /* the host's: free them */
    int32_t status = 0;
    if (refuse || n_grads != 1 || n_results != 1) {
        snprintf(error, error_len, "the C host refuses (token %lld)", (long long)token);
        status = 1;
    } else {
        RtTorchValue args[2] = {tensor_arg(grads[0]), float_arg(token == 42 ? 3.0 : 2.0)}, out[1];
        if (rt_torch_op_call(find_op("aten::mul", "Scalar"), args, 2, out, 1) != 1) {
            snprintf(error, error_len, "mul failed: %s", rt_torch_last_error());
            status = 1;
        } else {
            results[0] = (TorchTensor *)out[0].ptr;  /* handed over: the library releases it */
        }
    }
    for (int64_t i = 0; i < n_grads; i++) rt_torch_torchtensor_free(grads[i]);
    return status;
}

static void host_release(int64_t token) {
    (void)token;
    released++;
}

static RtTorchAutogradHost host = {host_backward, host_release};

int main(void) {
    const int64_t live_at_start = rt_torch_live_handles();
    if (live_at_start < 0) fail("rt_torch_live_handles failed");
    if (!rt_torch_available()) fail("rt_torch_available() is false");
    const char *version = rt_torch_version();
    if (version == NULL || strcmp(version, "2.11.0") != 0) fail("version is %s", version ? version : "NULL");
    printf("libtorch %s, %d CUDA device(s), %lld live handles at start\n", version,
           (int)rt_torch_cuda_device_count(), (long long)live_at_start);
    const int32_t gpus = rt_torch_cuda_device_count();
    if (gpus < 0 || rt_torch_cuda_available() != (gpus > 0)) fail("cuda_available and cuda_device_count disagree");
    no_error("cuda queries");

    /* ---- creating and reading back ---- */
    const int64_t d23[] = {2, 3}, d32[] = {3, 2}, d22[] = {2, 2}, d4[] = {4};
    TorchTensor *zeros = made(rt_torch_tensor_zeros(d23, 2), "zeros [2, 3]");
    check_floats(zeros, (const float[]){0, 0, 0, 0, 0, 0}, 6, "zeros [2, 3] are 0");
    check_shape(zeros, d23, 2, "zeros has shape [2, 3]");
    if (rt_torch_torchtensor_device(zeros) != RT_TORCH_DEVICE_CPU || rt_torch_torchtensor_is_cuda(zeros)) fail("zeros is not on the CPU");
    no_error("device");
    ok("zeros is on the CPU (device -1, is_cuda false without an error)");

    TorchTensor *ones = made(rt_torch_tensor_ones(d23, 2), "ones [2, 3]");
    check_floats(ones, (const float[]){1, 1, 1, 1, 1, 1}, 6, "ones [2, 3] are 1");

    const float a_data[] = {1, 2, 3, 4, 5, 6}, b_data[] = {7, 8, 9, 10, 11, 12}, twos[] = {2, 2, 2, 2, 2, 2};
    TorchTensor *a = made(rt_torch_tensor_from_data(a_data, d23, 2, RT_TORCH_DTYPE_FLOAT32), "from_data a [2, 3]");
    TorchTensor *b = made(rt_torch_tensor_from_data(b_data, d32, 2, RT_TORCH_DTYPE_FLOAT32), "from_data b [3, 2]");
    TorchTensor *two = made(rt_torch_tensor_from_data(twos, d23, 2, RT_TORCH_DTYPE_FLOAT32), "from_data twos");
    check_floats(a, a_data, 6, "from_data copies the values");

    /* ---- computing ---- */
    TorchTensor *r;
    r = made(rt_torch_torchtensor_matmul(a, b), "matmul");
    check_floats(r, (const float[]){58, 64, 139, 154}, 4, "[2, 3] @ [3, 2] = [[58, 64], [139, 154]]");
    check_shape(r, d22, 2, "the product has shape [2, 2]");
    release(r);
    r = made(rt_torch_torchtensor_add(a, ones), "add");
    check_floats(r, (const float[]){2, 3, 4, 5, 6, 7}, 6, "a + 1");
    release(r);
    r = made(rt_torch_torchtensor_sub(a, ones), "sub");
    check_floats(r, (const float[]){0, 1, 2, 3, 4, 5}, 6, "a - 1");
    release(r);
    r = made(rt_torch_torchtensor_mul(a, two), "mul");
    check_floats(r, (const float[]){2, 4, 6, 8, 10, 12}, 6, "a * 2");
    release(r);
    r = made(rt_torch_torchtensor_div(a, two), "div");
    check_floats(r, (const float[]){0.5f, 1, 1.5f, 2, 2.5f, 3}, 6, "a / 2");
    release(r);

    const float signed_data[] = {-1, 2, -3, 4};
    TorchTensor *s = made(rt_torch_tensor_from_data(signed_data, d4, 1, RT_TORCH_DTYPE_FLOAT32), "from_data [-1, 2, -3, 4]");
    r = made(rt_torch_torchtensor_relu(s), "relu");
    check_floats(r, (const float[]){0, 2, 0, 4}, 4, "relu([-1, 2, -3, 4]) = [0, 2, 0, 4]");
    release(r);
    r = made(rt_torch_torchtensor_sigmoid(zeros), "sigmoid");
    check_floats(r, (const float[]){0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, 6, "sigmoid(0) = 0.5");
    release(r);
    r = made(rt_torch_torchtensor_tanh(zeros), "tanh");
    check_floats(r, (const float[]){0, 0, 0, 0, 0, 0}, 6, "tanh(0) = 0");
    release(r);
    r = made(rt_torch_torchtensor_softmax(zeros, 1), "softmax");
    check_floats(r, (const float[]){1.0f / 3, 1.0f / 3, 1.0f / 3, 1.0f / 3, 1.0f / 3, 1.0f / 3}, 6, "softmax of equal values along dim 1 = 1/3");
    release(r);
    r = made(rt_torch_torchtensor_softmax(s, -1), "softmax dim -1");
    {
        float p[4], sum = 0;
        rt_torch_torchtensor_copy_to(r, p, sizeof p);
        for (int i = 0; i < 4; i++) sum += p[i];
        if (!(p[2] < p[0] && p[0] < p[1] && p[1] < p[3]) || fabsf(sum - 1) > 1e-6f) fail("softmax([-1, 2, -3, 4]) is not ordered or does not sum to 1");
        ok("softmax([-1, 2, -3, 4]) keeps the order and sums to 1");
    }
    release(r);
    r = made(rt_torch_torchtensor_clone(a), "clone");
    if (r == a) fail("clone returned the same handle");
    check_floats(r, a_data, 6, "clone has the same values and a new handle");
    release(r);

    const int64_t ints[] = {1, -2, 3};
    const int64_t d3[] = {3};
    TorchTensor *i64 = made(rt_torch_tensor_from_data(ints, d3, 1, RT_TORCH_DTYPE_INT64), "from_data int64");
    r = made(rt_torch_torchtensor_add(i64, i64), "int64 add");
    {
        int64_t out[3];
        if (rt_torch_torchtensor_dtype(r) != RT_TORCH_DTYPE_INT64) fail("int64 + int64 is not int64");
        if (rt_torch_torchtensor_copy_to(r, out, sizeof out) != 24 || out[0] != 2 || out[1] != -4 || out[2] != 6)
            fail("int64 [1, -2, 3] * 2 read back wrong");
        ok("int64 [1, -2, 3] + itself = [2, -4, 6], dtype int64, 24 bytes");
    }
    release(r);
    release(i64);

    TorchTensor *f64 = made(rt_torch_tensor_ones_opts(d22, 2, RT_TORCH_DTYPE_FLOAT64, RT_TORCH_DEVICE_CPU), "ones_opts float64");
    {
        double out[4];
        if (rt_torch_torchtensor_dtype(f64) != RT_TORCH_DTYPE_FLOAT64 || rt_torch_torchtensor_copy_to(f64, out, sizeof out) != 32 || out[3] != 1.0)
            fail("float64 ones read back wrong");
        ok("ones_opts float64 [2, 2]: dtype 7, 32 bytes of 1.0");
    }
    release(f64);

    const int64_t d1000[] = {1000};
    TorchTensor *noise = made(rt_torch_tensor_randn(d1000, 1), "randn [1000]");
    {
        float x[1000];
        double mean = 0;
        if (rt_torch_torchtensor_copy_to(noise, x, sizeof x) != 4000) fail("randn copy_to");
        for (int i = 0; i < 1000; i++) mean += x[i] / 1000.0;
        if (fabs(mean) > 0.2) fail("randn mean %g is far from 0", mean);
        ok("randn [1000] has a mean near 0");
    }
    release(noise);

    TorchTensor *scalar = made(rt_torch_tensor_zeros(NULL, 0), "zeros with ndim 0");
    if (rt_torch_torchtensor_ndim(scalar) != 0 || rt_torch_torchtensor_numel(scalar) != 1 || rt_torch_torchtensor_shape(scalar, NULL, 0) != 0)
        fail("a 0-d tensor has ndim 0, numel 1");
    ok("NULL dims with ndim 0 gives a 0-d tensor");
    release(scalar);
    const int64_t d03[] = {0, 3};
    TorchTensor *empty = made(rt_torch_tensor_from_data(NULL, d03, 2, RT_TORCH_DTYPE_FLOAT32), "from_data NULL for [0, 3]");
    if (rt_torch_torchtensor_copy_to(empty, NULL, 0) != 0) fail("copy_to of an empty tensor into NULL, 0");
    no_error("empty copy_to");
    ok("an empty tensor from NULL data copies 0 bytes to NULL");
    release(empty);

    {
        int64_t out[2] = {-7, -7};
        if (rt_torch_torchtensor_shape(a, out, 1) != 2 || out[0] != 2 || out[1] != -7) fail("shape with cap 1");
        if (rt_torch_torchtensor_shape(a, NULL, 0) != 2) fail("shape with NULL, 0");
        no_error("shape");
        ok("shape with cap 1 writes one size and returns ndim 2; NULL with cap 0 returns ndim");
    }

    r = made(rt_torch_torchtensor_cpu(a), "cpu");
    check_floats(r, a_data, 6, "cpu() of a CPU tensor");
    release(r);
    r = made(rt_torch_torchtensor_to_device(a, RT_TORCH_DEVICE_CPU, false), "to_device -1");
    check_floats(r, a_data, 6, "to_device(-1)");
    release(r);

    TorchStream *stream = rt_torch_stream_create(RT_TORCH_DEVICE_CPU);
    if (stream == NULL) fail("stream_create(-1)");
    no_error("stream_create");
    if (!rt_torch_torchstream_query(stream)) fail("a CPU stream is not complete");
    rt_torch_torchstream_sync(stream);
    no_error("sync");
    r = made(rt_torch_torchtensor_to_stream(a, RT_TORCH_DEVICE_CPU, stream), "to_stream on a CPU stream");
    check_floats(r, a_data, 6, "to_stream(-1) on a CPU stream; query true, sync ok");
    release(r);

    TorchStream *current = rt_torch_stream_current(RT_TORCH_DEVICE_CPU);
    if (current == NULL || rt_torch_torchstream_device(current) != RT_TORCH_DEVICE_CPU) fail("stream_current(-1)");
    rt_torch_torchstream_set_current(current);
    no_error("stream_current(-1) is a CPU stream; set_current on it");
    rt_torch_torchstream_free(current);

    r = made(rt_torch_tensor_zeros(d23, 2), "a tensor to copy into");
    if (!rt_torch_torchtensor_copy_from(r, a, false)) fail("copy_from failed: %s", rt_torch_last_error());
    check_floats(r, a_data, 6, "copy_from writes a's values in place");
    release(r);

    if (gpus > 0) {
        r = made(rt_torch_torchtensor_cuda(a, 0), "cuda(0)");
        if (!rt_torch_torchtensor_is_cuda(r) || rt_torch_torchtensor_device(r) != 0) fail("cuda(0) is not on cuda:0");
        check_floats(r, a_data, 6, "a round trip through cuda:0 keeps the values");
        release(r);
    }

    /* ---- every error path ---- */
    const int64_t d45[] = {4, 5}, bad_dims[] = {2, -3}, huge[] = {(int64_t)1 << 40};
    int64_t sixty_five[65];
    for (int i = 0; i < 65; i++) sixty_five[i] = 1;
    float small[5];

    if (rt_torch_torchtensor_relu(NULL) != NULL) fail("relu(NULL) did not fail");
    expect_error("rt_torch_torchtensor_relu", "the tensor handle is NULL", RT_TORCH_ERROR_HANDLE, "relu(NULL)");
    if (rt_torch_torchtensor_ndim(NULL) != -1) fail("ndim(NULL) did not return -1");
    expect_error("rt_torch_torchtensor_ndim", "the tensor handle is NULL", RT_TORCH_ERROR_HANDLE, "ndim(NULL) is -1");

    TorchTensor *gone = made(rt_torch_tensor_ones(d23, 2), "a tensor to free");
    char freed_words[64];
    snprintf(freed_words, sizeof freed_words, "tensor handle %#llx was already freed", (unsigned long long)(uintptr_t)gone);
    rt_torch_torchtensor_free(gone);
    no_error("first free");
    if (rt_torch_torchtensor_numel(gone) != -1) fail("numel of a freed handle did not return -1");
    expect_error("rt_torch_torchtensor_numel", freed_words, RT_TORCH_ERROR_HANDLE, "numel(freed)");
    if (rt_torch_torchtensor_add(a, gone) != NULL) fail("add with a freed handle did not fail");
    expect_error("rt_torch_torchtensor_add", "was already freed", RT_TORCH_ERROR_HANDLE, "add(a, freed)");
    rt_torch_torchtensor_free(gone);
    expect_error("rt_torch_torchtensor_free", freed_words, RT_TORCH_ERROR_HANDLE, "double free");
    rt_torch_torchtensor_free(NULL);
    no_error("free(NULL)");
    ok("free(NULL) is a no-op without an error");

    TorchTensor *made_up = (TorchTensor *)(uintptr_t)0xdeadbeef;
    if (rt_torch_torchtensor_numel(made_up) != -1) fail("numel(0xdeadbeef) did not fail");
    expect_error("rt_torch_torchtensor_numel", "0xdeadbeef is not a tensor handle returned by simple_torch", RT_TORCH_ERROR_HANDLE, "numel(0xdeadbeef)");
    rt_torch_torchtensor_free(made_up);
    expect_error("rt_torch_torchtensor_free", "0xdeadbeef is not a tensor handle", RT_TORCH_ERROR_HANDLE, "free(0xdeadbeef)");

    if (rt_torch_torchtensor_relu((const TorchTensor *)(void *)stream) != NULL) fail("relu(stream) did not fail");
    expect_error("rt_torch_torchtensor_relu", "is a stream handle, not a tensor handle", RT_TORCH_ERROR_HANDLE, "relu(a stream)");
    rt_torch_torchtensor_free((TorchTensor *)(void *)stream);
    expect_error("rt_torch_torchtensor_free", "is a stream handle, not a tensor handle", RT_TORCH_ERROR_HANDLE, "tensor free(a stream)");
    rt_torch_torchstream_sync((TorchStream *)(void *)a);
    expect_error("rt_torch_torchstream_sync", "is a tensor handle, not a stream handle", RT_TORCH_ERROR_HANDLE, "sync(a tensor)");
    if (rt_torch_torchstream_query((TorchStream *)(void *)a)) fail("query(a tensor) returned true");
    expect_error("rt_torch_torchstream_query", "is a tensor handle, not a stream handle", RT_TORCH_ERROR_HANDLE, "query(a tensor) is false");
    if (rt_torch_torchtensor_to_stream(a, RT_TORCH_DEVICE_CPU, (TorchStream *)(void *)a) != NULL) fail("to_stream(a, -1, a tensor)");
    expect_error("rt_torch_torchtensor_to_stream", "is a tensor handle, not a stream handle", RT_TORCH_ERROR_HANDLE, "to_stream(t, -1, a tensor)");
    rt_torch_torchstream_free((TorchStream *)(void *)a);
    expect_error("rt_torch_torchstream_free", "is a tensor handle, not a stream handle", RT_TORCH_ERROR_HANDLE, "stream free(a tensor)");
    check_floats(a, a_data, 6, "the tensor survives being passed as a stream");
    if (!rt_torch_torchstream_query(stream)) fail("the stream did not survive being passed as a tensor");
    ok("the stream survives being passed as a tensor");

    TorchTensor *z45 = made(rt_torch_tensor_zeros(d45, 2), "zeros [4, 5]");
    if (rt_torch_torchtensor_matmul(a, z45) != NULL) fail("matmul [2,3]x[4,5] did not fail");
    expect_error("rt_torch_torchtensor_matmul", "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)", RT_TORCH_ERROR_ARGUMENT, "matmul [2, 3] x [4, 5]");
    if (rt_torch_torchtensor_add(a, s) != NULL) fail("add [2,3] + [4] did not fail");
    expect_error("rt_torch_torchtensor_add", "float32[2, 3] on cpu with float32[4] on cpu", RT_TORCH_ERROR_ARGUMENT, "add [2, 3] + [4]");
    if (rt_torch_torchtensor_softmax(a, 5) != NULL) fail("softmax dim 5 did not fail");
    expect_error("rt_torch_torchtensor_softmax", "Dimension out of range", RT_TORCH_ERROR_ARGUMENT, "softmax over dim 5 of [2, 3]");

    if (rt_torch_tensor_zeros(bad_dims, 2) != NULL) fail("zeros [2, -3] did not fail");
    expect_error("rt_torch_tensor_zeros", "negative dimension in shape [2, -3]", RT_TORCH_ERROR_ARGUMENT, "zeros [2, -3]");
    if (rt_torch_tensor_ones(sixty_five, 65) != NULL) fail("ndim 65 did not fail");
    expect_error("rt_torch_tensor_ones", "ndim must be between 0 and 64, got 65", RT_TORCH_ERROR_ARGUMENT, "ones with ndim 65");
    if (rt_torch_tensor_ones(d23, -1) != NULL) fail("ndim -1 did not fail");
    expect_error("rt_torch_tensor_ones", "got -1", RT_TORCH_ERROR_ARGUMENT, "ones with ndim -1");
    if (rt_torch_tensor_randn(NULL, 2) != NULL) fail("NULL dims with ndim 2 did not fail");
    expect_error("rt_torch_tensor_randn", "dims is NULL but ndim is 2", RT_TORCH_ERROR_ARGUMENT, "randn(NULL, 2)");
    if (rt_torch_tensor_from_data(NULL, d23, 2, RT_TORCH_DTYPE_FLOAT32) != NULL) fail("from_data(NULL) for [2, 3] did not fail");
    expect_error("rt_torch_tensor_from_data", "data is NULL", RT_TORCH_ERROR_ARGUMENT, "from_data(NULL, [2, 3])");
    if (rt_torch_tensor_zeros_opts(d23, 2, 8, RT_TORCH_DEVICE_CPU) != NULL) fail("dtype 8 did not fail");
    expect_error("rt_torch_tensor_zeros_opts", "unknown dtype code 8", RT_TORCH_ERROR_ARGUMENT, "zeros_opts dtype 8");
    if (rt_torch_tensor_from_data(a_data, d23, 2, 100) != NULL) fail("dtype 100 did not fail");
    expect_error("rt_torch_tensor_from_data", "unknown dtype code 100", RT_TORCH_ERROR_ARGUMENT, "from_data dtype 100");
    if (rt_torch_tensor_zeros_opts(d23, 2, RT_TORCH_DTYPE_FLOAT32, -2) != NULL) fail("device -2 did not fail");
    expect_error("rt_torch_tensor_zeros_opts", "invalid device code -2", RT_TORCH_ERROR_ARGUMENT, "zeros_opts device -2");
    if (rt_torch_torchtensor_to_device(a, -100, false) != NULL) fail("device -100 did not fail");
    expect_error("rt_torch_torchtensor_to_device", "invalid device code -100", RT_TORCH_ERROR_ARGUMENT, "to_device -100");
    if (rt_torch_torchtensor_cuda(a, -1) != NULL) fail("cuda(-1) did not fail");
    expect_error("rt_torch_torchtensor_cuda", "invalid CUDA device index -1", RT_TORCH_ERROR_ARGUMENT, "cuda(-1)");

    const char *no_such_gpu = gpus == 0 ? "CUDA is not available" : "CUDA device(s)";
    if (rt_torch_torchtensor_cuda(a, gpus) != NULL) fail("cuda(%d) did not fail", (int)gpus);
    expect_error("rt_torch_torchtensor_cuda", no_such_gpu, RT_TORCH_ERROR_DEVICE, "cuda(one past the last GPU)");
    if (rt_torch_tensor_ones_opts(d23, 2, RT_TORCH_DTYPE_FLOAT32, gpus) != NULL) fail("ones_opts on a missing GPU did not fail");
    expect_error("rt_torch_tensor_ones_opts", no_such_gpu, RT_TORCH_ERROR_DEVICE, "ones_opts on a missing GPU");
    if (rt_torch_stream_create(gpus) != NULL) fail("stream_create on a missing GPU did not fail");
    expect_error("rt_torch_stream_create", no_such_gpu, RT_TORCH_ERROR_DEVICE, "stream_create on a missing GPU");
    if (rt_torch_cuda_memory_allocated(gpus) != -1) fail("memory_allocated on a missing GPU did not fail");
    expect_error("rt_torch_cuda_memory_allocated", no_such_gpu, RT_TORCH_ERROR_DEVICE, "memory_allocated on a missing GPU");
    if (gpus == 0) {
        if (rt_torch_event_create(true) != NULL) fail("event_create without CUDA did not fail");
        expect_error("rt_torch_event_create", "CUDA is not available", RT_TORCH_ERROR_DEVICE, "event_create without CUDA");
    }
    if (rt_torch_torchtensor_copy_from(a, (const TorchTensor *)stream, false)) fail("copy_from a stream did not fail");
    expect_error("rt_torch_torchtensor_copy_from", "is a stream handle, not a tensor handle", RT_TORCH_ERROR_HANDLE, "copy_from(a, a stream)");
    if (rt_torch_stream_create(-2) != NULL) fail("stream_create(-2) did not fail");
    expect_error("rt_torch_stream_create", "-2", RT_TORCH_ERROR_ARGUMENT, "stream_create(-2)");

    if (rt_torch_torchtensor_copy_to(a, small, sizeof small - 1) != -1) fail("copy_to with 19 bytes did not fail");
    expect_error("rt_torch_torchtensor_copy_to", "buffer of 19 bytes is too small for float32[2, 3] on cpu (24 bytes)", RT_TORCH_ERROR_ARGUMENT, "copy_to 19 of 24 bytes");
    if (rt_torch_torchtensor_copy_to(a, NULL, 24) != -1) fail("copy_to NULL did not fail");
    expect_error("rt_torch_torchtensor_copy_to", "out is NULL", RT_TORCH_ERROR_ARGUMENT, "copy_to into NULL");
    if (rt_torch_torchtensor_shape(a, NULL, 2) != -1) fail("shape(NULL, 2) did not fail");
    expect_error("rt_torch_torchtensor_shape", "out is NULL", RT_TORCH_ERROR_ARGUMENT, "shape into NULL with cap 2");
    if (rt_torch_torchtensor_shape(a, (int64_t *)small, -1) != -1) fail("shape cap -1 did not fail");
    expect_error("rt_torch_torchtensor_shape", "cap must be >= 0", RT_TORCH_ERROR_ARGUMENT, "shape with cap -1");

    if (rt_torch_tensor_zeros(huge, 1) != NULL) fail("zeros [2**40] did not fail");
    expect_error("rt_torch_tensor_zeros", "can't allocate memory", RT_TORCH_ERROR_OUT_OF_MEMORY, "zeros [2**40] (4 TiB)");

    if (rt_torch_torchtensor_relu(NULL) != NULL) fail("relu(NULL)");
    rt_torch_clear_error();
    if (rt_torch_last_error() != NULL || rt_torch_last_error_kind() != RT_TORCH_ERROR_NONE) fail("clear_error left an error");
    ok("clear_error empties the slot");

    /* ---- every operator, through the generic entry: finding them ---- */
    const int64_t op_count = rt_torch_op_count();
    if (op_count < 1000) fail("rt_torch_op_count() is %lld: libtorch registers thousands", (long long)op_count);
    no_error("op_count");
    ok("rt_torch_op_count() lists over a thousand operators");
    const int64_t add_op = find_op("aten::add", "Tensor");
    if (add_op < 0 || add_op >= op_count || find_op("aten::add", "Tensor") != add_op) fail("aten::add.Tensor has no stable id in range");
    ok("rt_torch_op_find(\"aten::add\", \"Tensor\") gives the same id in range twice");
    const char *schema = rt_torch_op_schema(add_op);
    no_error("op_schema");
    if (schema == NULL || strcmp(schema, "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor") != 0)
        fail("the schema of aten::add.Tensor is %s", schema ? schema : "NULL");
    ok("rt_torch_op_schema gives PyTorch's schema of aten::add.Tensor");
    const int64_t mm_op = find_op("aten::mm", NULL);
    if (find_op("aten::mm", "") != mm_op || strncmp(rt_torch_op_schema(mm_op), "aten::mm(Tensor self, Tensor mat2)", 34) != 0)
        fail("the default overload of aten::mm is not found by both NULL and \"\"");
    ok("NULL and \"\" both find the default overload (aten::mm)");
    if (rt_torch_op_schema(0) == NULL || rt_torch_op_schema(op_count - 1) == NULL) fail("the first or last id has no schema");
    no_error("op_schema of the first and last ids");
    ok("ids 0 and count - 1 have schemas");

    /* ---- calling: conv2d, checked exactly against hand-computed sums ---- */
    RtTorchValue out[4];
    const int64_t d1144[] = {1, 1, 4, 4}, d1133[] = {1, 1, 3, 3}, d1122[] = {1, 1, 2, 2}, d1[] = {1};
    const int64_t conv2d_op = find_op("aten::conv2d", NULL);
    TorchTensor *image = made(rt_torch_tensor_ones(d1144, 4), "ones [1, 1, 4, 4]");
    TorchTensor *kernel = made(rt_torch_tensor_ones(d1133, 4), "ones [1, 1, 3, 3]");
    {
        RtTorchValue args[] = {tensor_arg(image), tensor_arg(kernel)};  /* bias, stride, ...: defaults */
        call_op(conv2d_op, args, 2, out, 4, 1, "conv2d(ones, ones)");
        r = new_tensor(&out[0], "conv2d(ones, ones)");
        check_shape(r, d1122, 4, "conv2d of a 4x4 image by a 3x3 kernel, stride 1, no padding, is 2x2");
        check_floats(r, (const float[]){9, 9, 9, 9}, 4, "each output of ones * ones over 3x3 is 9");
        release(r);
    }
    float counting[16];  /* 1..16, row by row: sums over windows are easy to do by hand */
    for (int i = 0; i < 16; i++) counting[i] = (float)(i + 1);
    TorchTensor *counted = made(rt_torch_tensor_from_data(counting, d1144, 4, RT_TORCH_DTYPE_FLOAT32), "from_data 1..16");
    TorchTensor *bias = made(rt_torch_tensor_from_data((const float[]){0.5f}, d1, 1, RT_TORCH_DTYPE_FLOAT32), "bias [0.5]");
    {
        /* Padding 1, stride 2: the windows cover rows/cols {0,1}, {1,2,3} of the image, e.g.
         * top-left 1+2+5+6 = 14, top-right 2+3+4+6+7+8 = 30, bottom-left 5+6+9+10+13+14 = 57,
         * bottom-right 6+7+8+10+11+12+14+15+16 = 99; plus the bias 0.5. */
        const int64_t twice[] = {2, 2}, once[] = {1, 1};
        RtTorchValue args[] = {tensor_arg(counted), tensor_arg(kernel), tensor_arg(bias),
                               named("padding", ints_arg(once, 2)), named("stride", ints_arg(twice, 2))};
        call_op(conv2d_op, args, 5, out, 4, 1, "conv2d with bias, stride and padding");
        r = new_tensor(&out[0], "conv2d with bias");
        check_floats(r, (const float[]){14.5f, 30.5f, 57.5f, 99.5f}, 4, "conv2d(1..16, ones, bias 0.5, stride=[2, 2], padding=[1, 1]) by keyword");
        release(r);
        /* An int[2] given one int repeats it, as PyTorch does. */
        args[3] = named("padding", int_arg(1));
        args[4] = named("stride", int_arg(2));
        call_op(conv2d_op, args, 5, out, 4, 1, "conv2d with stride=2, padding=1");
        r = new_tensor(&out[0], "conv2d with ints for int[2]");
        check_floats(r, (const float[]){14.5f, 30.5f, 57.5f, 99.5f}, 4, "stride=2, padding=1 as single ints mean [2, 2] and [1, 1]");
        release(r);
    }

    /* ---- keyword arguments: an int list, a bool and a ScalarType by name ---- */
    {
        const int64_t dim1[] = {1}, d21[] = {2, 1};
        RtTorchValue args[] = {tensor_arg(a), named("keepdim", bool_arg(true)), named("dim", ints_arg(dim1, 1)),
                               named("dtype", code_arg(RT_TORCH_VALUE_SCALAR_TYPE, RT_TORCH_DTYPE_FLOAT64))};
        call_op(find_op("aten::sum", "dim_IntList"), args, 4, out, 4, 1, "sum.dim_IntList");
        r = new_tensor(&out[0], "sum.dim_IntList");
        double sums[2] = {0, 0};
        if (rt_torch_torchtensor_dtype(r) != RT_TORCH_DTYPE_FLOAT64 || rt_torch_torchtensor_copy_to(r, sums, sizeof sums) != 16 ||
            sums[0] != 6 || sums[1] != 15)
            fail("sum(a, dim=[1], keepdim=True, dtype=float64) is not float64 [[6], [15]]");
        check_shape(r, d21, 2, "sum(a, keepdim=True, dim=[1], dtype=float64) = float64 [[6], [15]], keywords in any order");
        release(r);
    }

    /* ---- a Tensor[] result: split ---- */
    {
        RtTorchValue args[] = {tensor_arg(a), int_arg(2), named("dim", int_arg(1))};
        call_op(find_op("aten::split", "Tensor"), args, 3, out, 4, 1, "split.Tensor");
        if (out[0].tag != RT_TORCH_VALUE_TENSOR_LIST || out[0].len != 2 || out[0].ptr == NULL || out[0].from_argument != 0)
            fail("split gave tag %d, len %lld: not a list of 2 new tensors", (int)out[0].tag, (long long)out[0].len);
        /* The array is the library's until the next rt_torch_op_call; the handles are ours. */
        TorchTensor *pieces[2];
        memcpy(pieces, out[0].ptr, sizeof pieces);
        const int64_t d21[] = {2, 1};
        check_shape(pieces[0], d22, 2, "split(a, 2, dim=1)[0] has shape [2, 2]");
        check_floats(pieces[0], (const float[]){1, 2, 4, 5}, 4, "split(a, 2, dim=1)[0] = [[1, 2], [4, 5]]");
        check_shape(pieces[1], d21, 2, "split(a, 2, dim=1)[1] has shape [2, 1]");
        check_floats(pieces[1], (const float[]){3, 6}, 2, "split(a, 2, dim=1)[1] = [[3], [6]]");
        if (pieces[0] == a || pieces[1] == a || pieces[0] == pieces[1]) fail("split reused a handle");
        release(pieces[0]);
        release(pieces[1]);
    }

    /* ---- in place and out=: the caller's own handle comes back, from_argument 1 ---- */
    {
        TorchTensor *x = made(rt_torch_torchtensor_clone(a), "clone of a");
        RtTorchValue args[] = {tensor_arg(x), tensor_arg(two), named("alpha", float_arg(0.5))};
        call_op(find_op("aten::add_", "Tensor"), args, 3, out, 4, 1, "add_.Tensor");
        if (out[0].tag != RT_TORCH_VALUE_TENSOR || out[0].from_argument != 1 || out[0].ptr != x)
            fail("add_ returned tag %d, from_argument %d, %p, not x = %p", (int)out[0].tag, (int)out[0].from_argument, out[0].ptr, (void *)x);
        check_floats(x, (const float[]){2, 3, 4, 5, 6, 7}, 6, "add_(x, 2, alpha=0.5) returns x itself (from_argument 1), now a + 1");
        RtTorchValue out_args[] = {tensor_arg(a), tensor_arg(ones), named("out", tensor_arg(x))};
        call_op(find_op("aten::add", "out"), out_args, 3, out, 4, 1, "add.out");
        if (out[0].from_argument != 1 || out[0].ptr != x) fail("add.out did not return its out= handle");
        check_floats(x, (const float[]){2, 3, 4, 5, 6, 7}, 6, "add(a, 1, out=x) writes x and returns it (from_argument 1)");
        release(x);
    }

    /* ---- a Scalar argument, and its default ---- */
    {
        RtTorchValue args[] = {tensor_arg(a), tensor_arg(two), named("alpha", float_arg(-1.5))};
        call_op(add_op, args, 3, out, 4, 1, "add.Tensor alpha -1.5");
        r = new_tensor(&out[0], "add.Tensor alpha -1.5");
        check_floats(r, (const float[]){-2, -1, 0, 1, 2, 3}, 6, "add(a, 2, alpha=-1.5) = a - 3 (a float Scalar by keyword)");
        release(r);
        call_op(add_op, args, 2, out, 4, 1, "add.Tensor without alpha");
        r = new_tensor(&out[0], "add.Tensor without alpha");
        check_floats(r, (const float[]){3, 4, 5, 6, 7, 8}, 6, "add(a, 2) = a + 2: alpha takes its default, 1");
        release(r);
    }

    /* ---- Tensor?[]: NULL is None, as in a[:, [2, 0]] ---- */
    TorchTensor *columns = made(rt_torch_tensor_from_data((const int64_t[]){2, 0}, (const int64_t[]){2}, 1, RT_TORCH_DTYPE_INT64), "index [2, 0]");
    const int64_t index_op = find_op("aten::index", "Tensor");
    {
        TorchTensor *indices[] = {NULL, columns};
        RtTorchValue args[] = {tensor_arg(a), tensors_arg(RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST, indices, 2)};
        call_op(index_op, args, 2, out, 4, 1, "index.Tensor");
        r = new_tensor(&out[0], "index.Tensor");
        check_floats(r, (const float[]){3, 1, 6, 4}, 4, "index(a, [None, [2, 0]]) = a[:, [2, 0]]: NULL is None in a Tensor? list");
        release(r);
    }

    /* ---- the generic entry's errors: message and kind ---- */
    if (rt_torch_op_find("aten::ad", NULL) != -1) fail("aten::ad was found");
    expect_error_with("rt_torch_op_find", "no operator aten::ad; the closest names are:", "aten::add ", RT_TORCH_ERROR_ARGUMENT, "find an unknown operator");
    if (rt_torch_op_find("aten::add", "Tensr") != -1) fail("aten::add.Tensr was found");
    expect_error_with("rt_torch_op_find", "no operator aten::add.Tensr; its overloads are:", " Tensor", RT_TORCH_ERROR_ARGUMENT, "find an unknown overload");
    if (rt_torch_op_find(NULL, "Tensor") != -1) fail("a NULL name was found");
    expect_error("rt_torch_op_find", "the operator name is NULL", RT_TORCH_ERROR_ARGUMENT, "find(NULL)");
    if (rt_torch_op_schema(op_count) != NULL) fail("schema(count) is not NULL");
    expect_error("rt_torch_op_schema", "is not an operator id", RT_TORCH_ERROR_ARGUMENT, "schema of id count");
    if (rt_torch_op_schema(-1) != NULL) fail("schema(-1) is not NULL");
    expect_error("rt_torch_op_schema", "-1 is not an operator id", RT_TORCH_ERROR_ARGUMENT, "schema of id -1");
    if (rt_torch_op_call(-1, NULL, 0, out, 4) != -1) fail("op -1 was called");
    expect_error("rt_torch_op_call", "-1 is not an operator id", RT_TORCH_ERROR_ARGUMENT, "call op -1");
    if (rt_torch_op_call(op_count, NULL, 0, out, 4) != -1) fail("op count was called");
    expect_error("rt_torch_op_call", "is not an operator id", RT_TORCH_ERROR_ARGUMENT, "call op count");

    RtTorchValue args[6];
    args[0] = tensor_arg(a);
    args[1] = str_arg("three");
    if (rt_torch_op_call(mm_op, args, 2, out, 4) != -1) fail("mm(a, \"three\") did not fail");
    expect_error("rt_torch_op_call", "aten::mm: argument 'mat2' must be Tensor, not a str", RT_TORCH_ERROR_TYPE, "a wrong tag: a str for a Tensor");
    /* A number where a Tensor goes is a wrapped number, as in PyTorch: it does not decide the dtype. */
    args[1] = int_arg(3);
    if (rt_torch_op_call(find_op("aten::mul", "Tensor"), args, 2, out, 4) != 1) fail("mul.Tensor(a, 3) failed");
    if (rt_torch_torchtensor_dtype((TorchTensor *)out[0].ptr) != RT_TORCH_DTYPE_FLOAT32) fail("a * 3 is not float32");
    check_floats((TorchTensor *)out[0].ptr, (const float[]){3, 6, 9, 12, 15, 18}, 6, "mul.Tensor(a, 3): a number as a wrapped-number tensor");
    release((TorchTensor *)out[0].ptr);
    args[1] = tensor_arg(b);
    if (rt_torch_op_call(mm_op, args, 1, out, 4) != -1) fail("mm(a) did not fail");
    expect_error("rt_torch_op_call", "aten::mm is missing argument 'mat2'", RT_TORCH_ERROR_TYPE, "a missing argument");
    args[2] = named("beta", int_arg(1));
    if (rt_torch_op_call(mm_op, args, 3, out, 4) != -1) fail("mm(a, b, beta=1) did not fail");
    expect_error("rt_torch_op_call", "aten::mm has no argument named 'beta'", RT_TORCH_ERROR_TYPE, "an unknown keyword");
    args[2] = tensor_arg(a);
    if (rt_torch_op_call(mm_op, args, 3, out, 4) != -1) fail("mm(a, b, a) did not fail");
    expect_error("rt_torch_op_call", "aten::mm takes 2 positional arguments but 3 were given", RT_TORCH_ERROR_TYPE, "too many positional arguments");
    args[2] = named("mat2", tensor_arg(b));
    if (rt_torch_op_call(mm_op, args, 3, out, 4) != -1) fail("mm(a, b, mat2=b) did not fail");
    expect_error("rt_torch_op_call", "aten::mm got two values for argument 'mat2'", RT_TORCH_ERROR_TYPE, "an argument given twice");
    args[0] = named("self", tensor_arg(a));
    if (rt_torch_op_call(mm_op, args, 2, out, 4) != -1) fail("mm(self=a, b) did not fail");
    expect_error("rt_torch_op_call", "positional argument 1 follows a keyword argument", RT_TORCH_ERROR_TYPE, "a positional argument after a keyword");
    args[0] = tensor_arg(a);
    if (rt_torch_op_call(mm_op, NULL, 2, out, 4) != -1) fail("args NULL did not fail");
    expect_error("rt_torch_op_call", "args is NULL but n_args is 2", RT_TORCH_ERROR_ARGUMENT, "NULL args with n_args 2");
    if (rt_torch_op_call(mm_op, args, -1, out, 4) != -1) fail("n_args -1 did not fail");
    expect_error("rt_torch_op_call", "n_args is -1", RT_TORCH_ERROR_ARGUMENT, "n_args -1");
    if (rt_torch_op_call(mm_op, args, 2, NULL, 1) != -1) fail("out NULL did not fail");
    expect_error("rt_torch_op_call", "out is NULL with out_cap 1", RT_TORCH_ERROR_ARGUMENT, "out NULL with out_cap 1");
    args[1] = int_arg(1);
    if (rt_torch_op_call(find_op("aten::max", "dim"), args, 2, out, 1) != -1) fail("max.dim into 1 value did not fail");
    expect_error("rt_torch_op_call", "aten::max.dim returns 2 values but out has room for 1", RT_TORCH_ERROR_ARGUMENT, "out_cap too small");
    args[1] = named("dtype", code_arg(RT_TORCH_VALUE_SCALAR_TYPE, 100));
    if (rt_torch_op_call(find_op("aten::sum", NULL), args, 2, out, 4) != -1) fail("dtype 100 did not fail");
    expect_error("rt_torch_op_call", "unknown dtype code 100", RT_TORCH_ERROR_TYPE, "sum(a, dtype 100)");
    args[1] = tensor_arg(two);
    args[2] = named("rounding_mode", str_arg(NULL));
    if (rt_torch_op_call(find_op("aten::div", "Tensor_mode"), args, 3, out, 4) != -1) fail("a NULL string did not fail");
    expect_error("rt_torch_op_call", "argument 'rounding_mode': the string is NULL", RT_TORCH_ERROR_ARGUMENT, "a NULL str");
    args[1] = named("generator", int_arg(1));
    if (rt_torch_op_call(find_op("aten::bernoulli", NULL), args, 2, out, 4) != -1) fail("an int Generator did not fail");
    expect_error("rt_torch_op_call", "argument 'generator' must be Optional[Generator], not an int", RT_TORCH_ERROR_TYPE,
                 "an int for a Generator");

    /* A generator of our own: the same seed gives the same numbers, and it is a checked handle. */
    TorchGenerator *generator = rt_torch_generator_create(RT_TORCH_DEVICE_CPU);
    if (generator == NULL) fail("generator_create failed");
    no_error("generator_create");
    const int64_t three[] = {3};
    RtTorchValue draw[2] = {ints_arg(three, 1), named("generator", (RtTorchValue){.tag = RT_TORCH_VALUE_GENERATOR, .ptr = generator})};
    float first[3], second[3];
    for (int round = 0; round < 2; round++) {
        if (!rt_torch_torchgenerator_manual_seed(generator, 7)) fail("manual_seed failed");
        if (rt_torch_op_call(find_op("aten::randn", "generator"), draw, 2, out, 4) != 1) fail("randn(generator=) failed");
        TorchTensor *sample = (TorchTensor *)out[0].ptr;
        if (rt_torch_torchtensor_copy_to(sample, round ? second : first, sizeof first) != sizeof first) fail("copy_to failed");
        release(sample);
    }
    if (memcmp(first, second, sizeof first) != 0) fail("the same seed gave other numbers");
    uint64_t seed = 0;
    if (!rt_torch_torchgenerator_initial_seed(generator, &seed) || seed != 7) fail("initial_seed is not 7");
    ok("a generator seeded twice with 7 gives the same randn([3]) through aten::randn.generator");
    rt_torch_torchgenerator_free(generator);
    no_error("generator free");
    if (rt_torch_torchgenerator_manual_seed(generator, 1)) fail("a freed generator was seeded");
    expect_error("rt_torch_torchgenerator_manual_seed", "was already freed", RT_TORCH_ERROR_HANDLE, "a freed generator");

    const int64_t cat_op = find_op("aten::cat", NULL);
    TorchTensor *with_freed[] = {a, gone}, *with_made_up[] = {a, made_up}, *with_null[] = {a, NULL};
    args[0] = tensors_arg(RT_TORCH_VALUE_TENSOR_LIST, with_freed, 2);
    if (rt_torch_op_call(cat_op, args, 1, out, 4) != -1) fail("cat([a, freed]) did not fail");
    expect_error_with("rt_torch_op_call", "argument 0, element 1: ", freed_words, RT_TORCH_ERROR_HANDLE, "a freed handle in a Tensor list");
    args[0] = named("tensors", tensors_arg(RT_TORCH_VALUE_TENSOR_LIST, with_made_up, 2));
    if (rt_torch_op_call(cat_op, args, 1, out, 4) != -1) fail("cat([a, 0xdeadbeef]) did not fail");
    expect_error("rt_torch_op_call", "argument 'tensors', element 1: 0xdeadbeef is not a tensor handle", RT_TORCH_ERROR_HANDLE, "a made-up handle in a Tensor list");
    args[0] = tensors_arg(RT_TORCH_VALUE_TENSOR_LIST, with_null, 2);
    if (rt_torch_op_call(cat_op, args, 1, out, 4) != -1) fail("cat([a, NULL]) did not fail");
    expect_error("rt_torch_op_call", "element 1: the tensor handle is NULL", RT_TORCH_ERROR_HANDLE, "NULL in a Tensor list");
    args[0] = tensor_arg(a);
    args[1] = tensors_arg(RT_TORCH_VALUE_TENSOR_LIST, (TorchTensor *const[]){NULL, columns}, 2);
    if (rt_torch_op_call(index_op, args, 2, out, 4) != -1) fail("NULL in a TENSOR_LIST for Tensor?[] did not fail");
    expect_error("rt_torch_op_call", "element 0: the tensor handle is NULL", RT_TORCH_ERROR_HANDLE, "NULL in a TENSOR_LIST (None needs OPTIONAL_TENSOR_LIST)");
    args[1] = tensors_arg(RT_TORCH_VALUE_OPTIONAL_TENSOR_LIST, (TorchTensor *const[]){NULL, gone}, 2);
    if (rt_torch_op_call(index_op, args, 2, out, 4) != -1) fail("a freed handle in a Tensor? list did not fail");
    expect_error("rt_torch_op_call", "was already freed", RT_TORCH_ERROR_HANDLE, "a freed handle in a Tensor? list");

    args[1] = tensor_arg(z45);
    if (rt_torch_op_call(mm_op, args, 2, out, 4) != -1) fail("mm [2, 3] x [4, 5] did not fail");
    expect_error_with("rt_torch_op_call", "aten::mm(float32[2, 3] on cpu, float32[4, 5] on cpu): ", "(2x3 and 4x5)", RT_TORCH_ERROR_ARGUMENT,
                      "libtorch's error names the call and the shapes");
    args[1] = int_arg(0);
    args[2] = int_arg(5);
    if (rt_torch_op_call(find_op("aten::select", "int"), args, 3, out, 4) != -1) fail("select index 5 of 2 did not fail");
    expect_error("rt_torch_op_call", "index 5 out of range", RT_TORCH_ERROR_INDEX, "select(a, 0, 5): libtorch's IndexError");
    args[0] = ints_arg(huge, 1);
    if (rt_torch_op_call(find_op("aten::zeros", NULL), args, 1, out, 4) != -1) fail("zeros [2**40] did not fail");
    expect_error("rt_torch_op_call", "can't allocate memory", RT_TORCH_ERROR_OUT_OF_MEMORY, "aten::zeros [2**40] (4 TiB)");
    check_floats(a, a_data, 6, "no failed call changed a");

    release(image);
    release(kernel);
    release(counted);
    release(bias);
    release(columns);


    /* ---- autograd: backward, grad, a custom function and a hook in C ---- */
    {
        const float xs[3] = {1, 2, 3};
        const int64_t d3[1] = {3};
        TorchTensor *x = made(rt_torch_tensor_from_data(xs, d3, 1, RT_TORCH_DTYPE_FLOAT32), "from_data x [3]");
        RtTorchValue args[2] = {tensor_arg(x), bool_arg(true)}, out[1];
        call_op(find_op("aten::requires_grad_", NULL), args, 2, out, 1, 1, "x.requires_grad_()");
        if (rt_torch_torchtensor_requires_grad(x) != 1) fail("x does not require grad");
        if (rt_torch_set_grad_enabled(false) != 1) fail("grad mode was not on");
        args[1] = float_arg(3.0);
        call_op(find_op("aten::mul", "Scalar"), args, 2, out, 1, 1, "forward of times-three, grad mode off");
        TorchTensor *raw = new_tensor(&out[0], "x * 3");
        if (rt_torch_set_grad_enabled(true) != 0 || rt_torch_is_grad_enabled() != 1) fail("grad mode did not come back");
        TorchTensor *inputs[1] = {x}, *outputs[1] = {raw}, *y = NULL;
        if (!rt_torch_autograd_function_apply(&host, 42, "TimesThreeBackward", (const TorchTensor *const *)inputs, 1,
                                              (const TorchTensor *const *)outputs, 1, NULL, 0, NULL, 0, NULL, 0, true, &y))
            fail("function_apply failed");
        release(raw);
        char name[256];
        if (rt_torch_torchtensor_grad_fn(y, name, sizeof name) <= 0 || strcmp(name, "TimesThreeBackward") != 0)
            fail("y.grad_fn is '%s'", name);
        ok("a custom function with a C backward: y = TimesThree(x), grad_fn TimesThreeBackward");
        args[0] = tensor_arg(y);
        call_op(find_op("aten::sum", NULL), args, 1, out, 1, 1, "y.sum()");
        TorchTensor *loss = new_tensor(&out[0], "y.sum()");
        TorchTensor *roots[1] = {loss};
        if (!rt_torch_autograd_backward((const TorchTensor *const *)roots, 1, NULL, -1, false, NULL, 0)) fail("backward failed");
        TorchTensor *grad = NULL;
        if (!rt_torch_torchtensor_grad(x, &grad) || grad == NULL) fail("x has no grad");
        const float threes[3] = {3, 3, 3};
        check_floats(grad, threes, 3, "x.grad after the C backward");
        release(grad);
        if (rt_torch_autograd_backward((const TorchTensor *const *)roots, 1, NULL, -1, false, NULL, 0)) fail("a second backward worked");
        expect_error("rt_torch_autograd_backward", "Trying to backward through the graph a second time", RT_TORCH_ERROR_ARGUMENT,
                     "a second backward without retain_graph");
        release(loss);
        release(y);
        if (released != 1) fail("the node was not released (released %lld)", (long long)released);
        ok("dropping the graph releases the host's token once");

        int64_t hook = rt_torch_torchtensor_register_hook(x, &host, 7);
        if (hook < 0) fail("register_hook failed");
        if (!rt_torch_torchtensor_set_grad(x, NULL)) fail("x.grad = None failed");
        args[0] = tensor_arg(x);
        call_op(find_op("aten::sum", NULL), args, 1, out, 1, 1, "x.sum()");
        loss = new_tensor(&out[0], "x.sum()");
        roots[0] = loss;
        if (!rt_torch_autograd_backward((const TorchTensor *const *)roots, 1, NULL, -1, false, NULL, 0)) fail("backward failed");
        if (!rt_torch_torchtensor_grad(x, &grad) || grad == NULL) fail("x has no grad");
        const float twos_[3] = {2, 2, 2};
        check_floats(grad, twos_, 3, "x.grad through a C hook that doubles it");
        release(grad);
        release(loss);
        refuse = 1;
        call_op(find_op("aten::sum", NULL), args, 1, out, 1, 1, "x.sum()");
        loss = new_tensor(&out[0], "x.sum()");
        roots[0] = loss;
        if (rt_torch_autograd_backward((const TorchTensor *const *)roots, 1, NULL, -1, false, NULL, 0)) fail("a refused backward worked");
        expect_error("rt_torch_autograd_backward", "the C host refuses (token 7)", RT_TORCH_ERROR_ARGUMENT, "the host's error reaches the caller");
        refuse = 0;
        release(loss);
        if (!rt_torch_torchtensor_remove_hook(x, hook)) fail("remove_hook failed");
        if (released != 2) fail("removing the hook did not release its token");
        ok("a hook in C doubles the gradient, its error reaches backward's caller, removing it releases it");
        release(x);
    }

    /* ---- everything freed ---- */
    rt_torch_torchstream_free(stream);
    no_error("stream free");
    rt_torch_torchstream_free(stream);
    expect_error("rt_torch_torchstream_free", "was already freed", RT_TORCH_ERROR_HANDLE, "double stream free");
    rt_torch_torchstream_free(NULL);
    no_error("stream free(NULL)");
    release(zeros);
    release(ones);
    release(a);
    release(b);
    release(two);
    release(s);
    release(z45);
    int64_t live = rt_torch_live_handles();
    if (live != live_at_start) fail("live handles went from %lld to %lld", (long long)live_at_start, (long long)live);
    ok("every handle freed: live handles back to where they started");
    return printf("all %d checks passed\n", checks) < 0;
}
