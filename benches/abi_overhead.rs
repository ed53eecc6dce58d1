//! What a call through the C ABI costs on top of calling tch directly: the same work both ways,
//! side by side. The difference between a pair is the ABI's overhead per call: the handle
//! lookup in the registry, the error slot, catch_unwind, and registering the result.
//!
//! Each group's name ends with the number of `rt_torch_*` calls its ABI side makes, so that
//! `benches/criterion_summary.py` can report the overhead per call against the budget (25 ns).
//!
//! Run: `cargo bench` (with the environment of .ci/setup.sh); criterion prints each median.

use std::hint::black_box;
use std::ptr::null;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use simple_torch::*;
use simple_torch::handles;
use tch::{Device, Kind, Tensor};

fn tensor_of(values: &[f32], dims: &[i64]) -> (Tensor, *mut TorchTensor) {
    let direct = Tensor::from_slice(values).reshape(dims);
    let handle = unsafe { rt_torch_tensor_from_data(values.as_ptr().cast(), dims.as_ptr(), dims.len() as i64, RT_TORCH_DTYPE_FLOAT32) };
    assert!(!handle.is_null());
    (direct, handle)
}

/// One benchmark group: the work done by calling tch directly, then through the C ABI.
fn compare<A, B>(c: &mut Criterion, name: &str, mut tch: impl FnMut() -> A, mut rt_torch: impl FnMut() -> B) {
    let mut group = c.benchmark_group(name);
    group.bench_function("tch", |bench| bench.iter(&mut tch));
    group.bench_function("rt_torch", |bench| bench.iter(&mut rt_torch));
    group.finish();
}

fn overhead(c: &mut Criterion) {
    // One libtorch thread for both sides: on a small shared machine, intra-op threads add more
    // variance than the ABI adds time.
    tch::set_num_threads(1);
    let small = [4i64];
    let (a, ha) = tensor_of(&[1.0, -2.0, 3.0, -4.0], &small);
    let (b, hb) = tensor_of(&[0.5, 0.5, 0.5, 0.5], &small);
    let square = vec![0.25f32; 64 * 64];
    let (m, hm) = tensor_of(&square, &[64, 64]);

    // The handle check alone: a property read that does no libtorch work worth measuring.
    compare(c, "ndim, the handle check: 1 call", || black_box(&a).dim(), || rt_torch_torchtensor_ndim(black_box(ha)));
    compare(
        c,
        "zeros [4] + free: 2 calls",
        || Tensor::f_zeros(black_box(small), (Kind::Float, Device::Cpu)).unwrap(),
        || rt_torch_torchtensor_free(unsafe { rt_torch_tensor_zeros(black_box(small.as_ptr()), 1) }),
    );
    compare(c, "add [4] + free: 2 calls", || black_box(&a).f_add(&b).unwrap(), || rt_torch_torchtensor_free(rt_torch_torchtensor_add(black_box(ha), hb)));
    compare(c, "relu [4] + free: 2 calls", || black_box(&a).f_relu().unwrap(), || rt_torch_torchtensor_free(rt_torch_torchtensor_relu(black_box(ha))));
    compare(c, "matmul 64x64 + free: 2 calls", || black_box(&m).f_matmul(&m).unwrap(), || rt_torch_torchtensor_free(rt_torch_torchtensor_matmul(black_box(hm), hm)));
    compare(c, "clone [4] + free: 2 calls", || black_box(&a).f_detach_copy().unwrap(), || rt_torch_torchtensor_free(rt_torch_torchtensor_clone(black_box(ha))));

    // The generic entry: aten::add.Tensor through one frame (header, self, other; the result is
    // written after them), beside the same add in tch. Against the typed add above, this is what
    // the boxed call through the dispatcher and the frame's values add.
    let add_op = unsafe { rt_torch_op_find(c"aten::add".as_ptr(), c"Tensor".as_ptr()) };
    assert!(add_op >= 0);
    let value = |tag: i32, ptr: *const TorchTensor| RtTorchValue {
        tag, from_argument: 0, name: null(), int_value: 0, real: 0.0, imag: 0.0, ptr: ptr.cast(), len: 0,
    };
    #[repr(C)]
    struct Frame {
        header: RtTorchOpFrame,
        values: [RtTorchValue; 3],
    }
    let mut frame = Frame {
        header: RtTorchOpFrame { op: add_op, n_args: 2, out_cap: 1, written: 0 },
        values: [value(RT_TORCH_VALUE_TENSOR, ha), value(RT_TORCH_VALUE_TENSOR, hb), value(RT_TORCH_VALUE_NONE, null())],
    };
    compare(c, "aten::add.Tensor [4] by rt_torch_op_call_frame + free: 2 calls", || black_box(&a).f_add(&b).unwrap(), || {
        rt_torch_torchtensor_free(unsafe { rt_torch_op_call_frame(black_box(&mut frame.header)) })
    });

    // The registry alone, without libtorch work: what each tensor an export returns costs to
    // register, look up once, and release (an undefined tensor is a bare allocation).
    compare(
        c,
        "registry alone: register, look up, release a tensor",
        || drop(black_box(Tensor::new())),
        || {
            let handle = handles::register_tensor(black_box(Tensor::new()));
            drop(black_box(handles::tensor(handle)));
            handles::release_tensor(handle)
        },
    );

    // For comparison, what an Arc per tensor costs by itself (made, cloned by a lookup, both
    // dropped), with no registry at all: the earlier registry paid this on top of its locks. The
    // slab stores tensors in their slots and lookups return guards, so it costs less than this.
    compare(
        c,
        "for comparison: an Arc per tensor alone (new, clone, drop both)",
        || drop(black_box(Tensor::new())),
        || {
            let shared = Arc::new(handles::SharedTensor(black_box(Tensor::new())));
            drop(black_box(Arc::clone(&shared)));
            drop(shared)
        },
    );

    // A rejected handle: what misuse costs (no libtorch call at all).
    let mut group = c.benchmark_group("a NULL handle rejected (message written): 1 call");
    group.bench_function("rt_torch", |bench| bench.iter(|| rt_torch_torchtensor_ndim(black_box(null()))));
    group.finish();

    if rt_torch_cuda_device_count() > 0 {
        compare(
            c,
            "cuda(0) + cpu() [4] + 2 frees: 4 calls",
            || black_box(&a).to_device(Device::Cuda(0)).to_device(Device::Cpu),
            || {
                let on_gpu = rt_torch_torchtensor_cuda(black_box(ha), 0);
                rt_torch_torchtensor_free(rt_torch_torchtensor_cpu(on_gpu));
                rt_torch_torchtensor_free(on_gpu);
            },
        );
    }

    for handle in [ha, hb, hm] {
        rt_torch_torchtensor_free(handle);
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
