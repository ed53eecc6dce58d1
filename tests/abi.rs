//! The C ABI driven directly from Rust, compared with tch computing the same thing.

use std::ffi::CStr;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use simple_torch::handles;
use simple_torch::*;
use tch::{Device, Kind, Tensor};

/// Tests that count live handles must not interleave with other tests.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn last_error() -> Option<String> {
    let message = rt_torch_last_error();
    (!message.is_null()).then(|| unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned())
}

fn expect_error(fragment: &str) {
    let message = last_error().expect("an error message");
    assert!(message.contains(fragment), "{message:?} does not contain {fragment:?}");
}

fn from_f32(values: &[f32], dims: &[i64]) -> *mut TorchTensor {
    let h = unsafe { rt_torch_tensor_from_data(values.as_ptr().cast(), dims.as_ptr(), dims.len() as i64, 6) };
    assert!(!h.is_null(), "{:?}", last_error());
    h
}

fn to_f32(h: *const TorchTensor) -> Vec<f32> {
    let numel = rt_torch_torchtensor_numel(h) as usize;
    let mut out = vec![0f32; numel];
    let written = unsafe { rt_torch_torchtensor_copy_to(h, out.as_mut_ptr().cast(), (numel * 4) as i64) };
    assert_eq!(written, (numel * 4) as i64, "{:?}", last_error());
    out
}

fn tch_values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

fn assert_close(ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(theirs) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{ours:?} != {theirs:?}");
    }
}

#[test]
fn library_reports_itself() {
    assert!(rt_torch_available());
    let version = unsafe { CStr::from_ptr(rt_torch_version()) }.to_str().unwrap();
    assert_eq!(version, "2.11.0");
    assert_eq!(rt_torch_cuda_device_count() > 0, rt_torch_cuda_available());
    assert_eq!(rt_torch_cuda_device_count() as i64, tch::Cuda::device_count());
    assert_eq!(last_error(), None);
}

#[test]
fn creation_matches_tch() {
    let _lock = serial();
    let dims = [2i64, 3];
    let zeros = unsafe { rt_torch_tensor_zeros(dims.as_ptr(), 2) };
    let ones = unsafe { rt_torch_tensor_ones_opts(dims.as_ptr(), 2, 7, -1) };
    assert_eq!(to_f32(zeros), vec![0.0; 6]);
    assert_eq!(rt_torch_torchtensor_dtype(ones), 7);
    let mut shape = [0i64; 4];
    assert_eq!(unsafe { rt_torch_torchtensor_shape(ones, shape.as_mut_ptr(), 4) }, 2);
    assert_eq!(&shape[..2], &dims);
    let scalar = unsafe { rt_torch_tensor_randn(null(), 0) };
    assert_eq!(rt_torch_torchtensor_ndim(scalar), 0);
    assert_eq!(rt_torch_torchtensor_numel(scalar), 1);
    for h in [zeros, ones, scalar] {
        rt_torch_torchtensor_free(h);
    }
}

#[test]
fn methods_match_tch() {
    let _lock = serial();
    let (a_values, b_values) = ([1.0f32, -2.0, 3.0, -4.0, 5.0, -6.0], [0.5f32, 1.5, -2.5, 3.5, -4.5, 5.5]);
    let a = from_f32(&a_values, &[2, 3]);
    let b = from_f32(&b_values, &[2, 3]);
    let ta = Tensor::from_slice(&a_values).reshape([2, 3]);
    let tb = Tensor::from_slice(&b_values).reshape([2, 3]);

    let bt = from_f32(&tch_values(&tb.transpose(0, 1).contiguous()), &[3, 2]);
    let cases: [(*mut TorchTensor, Tensor); 9] = [
        (rt_torch_torchtensor_add(a, b), &ta + &tb),
        (rt_torch_torchtensor_sub(a, b), &ta - &tb),
        (rt_torch_torchtensor_mul(a, b), &ta * &tb),
        (rt_torch_torchtensor_div(a, b), &ta / &tb),
        (rt_torch_torchtensor_matmul(a, bt), ta.matmul(&tb.transpose(0, 1))),
        (rt_torch_torchtensor_relu(a), ta.relu()),
        (rt_torch_torchtensor_sigmoid(a), ta.sigmoid()),
        (rt_torch_torchtensor_tanh(a), ta.tanh()),
        (rt_torch_torchtensor_softmax(a, -1), ta.softmax(-1, Kind::Float)),
    ];
    for (index, (ours, theirs)) in cases.into_iter().enumerate() {
        assert!(!ours.is_null(), "case {index}");
        assert_close(&to_f32(ours), &tch_values(&theirs));
        rt_torch_torchtensor_free(ours);
    }

    let copy = rt_torch_torchtensor_clone(a);
    assert_eq!(to_f32(copy), a_values);
    for h in [a, b, bt, copy] {
        rt_torch_torchtensor_free(h);
    }
}

#[test]
fn bad_handles_are_reported_not_touched() {
    let _lock = serial();
    let start = rt_torch_live_handles();
    assert!(rt_torch_torchtensor_relu(null()).is_null());
    expect_error("rt_torch_torchtensor_relu: the tensor handle is NULL");

    let dims = [2i64];
    let h = unsafe { rt_torch_tensor_ones(dims.as_ptr(), 1) };
    assert_eq!(rt_torch_live_handles(), start + 1);
    rt_torch_torchtensor_free(h);
    assert_eq!(last_error(), None);
    assert_eq!(rt_torch_live_handles(), start);

    rt_torch_torchtensor_free(h);
    expect_error("was already freed");
    assert_eq!(rt_torch_torchtensor_numel(h), -1);
    expect_error("was already freed");
    assert_eq!(rt_torch_torchtensor_device(0xdead_beef as *const TorchTensor), -2);
    expect_error("0xdeadbeef is not a tensor handle returned by simple_torch");
    rt_torch_torchtensor_free(null_mut());
    assert_eq!(last_error(), None);
    assert_eq!(rt_torch_live_handles(), start);
}

#[test]
fn bad_arguments_are_reported() {
    let _lock = serial();
    let a = from_f32(&[1.0; 6], &[2, 3]);
    let b = from_f32(&[1.0; 20], &[4, 5]);
    assert!(rt_torch_torchtensor_matmul(a, b).is_null());
    expect_error("rt_torch_torchtensor_matmul: float32[2, 3] on cpu with float32[4, 5] on cpu");
    expect_error("2x3 and 4x5");
    assert!(rt_torch_torchtensor_add(a, b).is_null());
    expect_error("must match the size");

    let negative = [2i64, -3];
    assert!(unsafe { rt_torch_tensor_zeros(negative.as_ptr(), 2) }.is_null());
    expect_error("negative dimension in shape [2, -3]");
    assert!(unsafe { rt_torch_tensor_zeros(null(), 2) }.is_null());
    expect_error("dims is NULL but ndim is 2");
    let dims = [2i64];
    assert!(unsafe { rt_torch_tensor_zeros_opts(dims.as_ptr(), 1, 8, -1) }.is_null());
    expect_error("unknown dtype code 8");
    assert!(unsafe { rt_torch_tensor_zeros_opts(dims.as_ptr(), 1, 6, -7) }.is_null());
    expect_error("invalid device code -7");
    let huge = [1i64 << 40];
    assert!(unsafe { rt_torch_tensor_zeros(huge.as_ptr(), 1) }.is_null());
    expect_error("can't allocate memory");

    let mut small = [0f32; 2];
    assert_eq!(unsafe { rt_torch_torchtensor_copy_to(a, small.as_mut_ptr().cast(), 8) }, -1);
    expect_error("buffer of 8 bytes is too small for float32[2, 3] on cpu (24 bytes)");
    assert!(rt_torch_torchtensor_softmax(a, 5).is_null());
    expect_error("Dimension out of range");
    rt_torch_torchtensor_free(a);
    rt_torch_torchtensor_free(b);
}

#[test]
fn devices_without_and_with_cuda() {
    let _lock = serial();
    let a = from_f32(&[1.0, 2.0], &[2]);
    assert!(!rt_torch_torchtensor_is_cuda(a));
    assert_eq!(rt_torch_torchtensor_device(a), -1);
    let on_cpu = rt_torch_torchtensor_cpu(a);
    assert_eq!(to_f32(on_cpu), vec![1.0, 2.0]);
    let count = rt_torch_cuda_device_count();
    let beyond = rt_torch_torchtensor_cuda(a, count);
    assert!(beyond.is_null());
    if count == 0 {
        expect_error("cannot use cuda:0: CUDA is not available");
    } else {
        expect_error(&format!("this machine has {count} CUDA device(s)"));
        let on_gpu = rt_torch_torchtensor_cuda(a, count - 1);
        assert!(rt_torch_torchtensor_is_cuda(on_gpu));
        assert_eq!(rt_torch_torchtensor_device(on_gpu), count - 1);
        let back = rt_torch_torchtensor_to_device(on_gpu, -1, false);
        assert_eq!(to_f32(back), vec![1.0, 2.0]);
        assert_eq!(Tensor::from_slice(&[1.0f32]).to_device(Device::Cuda(0)).device(), Device::Cuda(0));
        rt_torch_torchtensor_free(back);
        rt_torch_torchtensor_free(on_gpu);
    }
    rt_torch_torchtensor_free(on_cpu);
    rt_torch_torchtensor_free(a);
}

#[test]
fn error_kinds_classify_failures() {
    let _lock = serial();
    assert!(rt_torch_torchtensor_relu(null()).is_null());
    assert_eq!(rt_torch_last_error_kind(), RT_TORCH_ERROR_HANDLE);
    let dims = [2i64, -1];
    assert!(unsafe { rt_torch_tensor_zeros(dims.as_ptr(), 2) }.is_null());
    assert_eq!(rt_torch_last_error_kind(), RT_TORCH_ERROR_ARGUMENT);
    let huge = [1i64 << 40];
    assert!(unsafe { rt_torch_tensor_ones(huge.as_ptr(), 1) }.is_null());
    assert_eq!(rt_torch_last_error_kind(), RT_TORCH_ERROR_OUT_OF_MEMORY);
    let count = rt_torch_cuda_device_count();
    let one = [1i64];
    assert!(unsafe { rt_torch_tensor_zeros_opts(one.as_ptr(), 1, RT_TORCH_DTYPE_FLOAT32, count) }.is_null());
    assert_eq!(rt_torch_last_error_kind(), RT_TORCH_ERROR_DEVICE);
    assert_eq!(rt_torch_live_handles(), rt_torch_live_handles());
    assert_eq!(rt_torch_last_error_kind(), RT_TORCH_ERROR_NONE);
}

#[test]
fn cpu_streams_and_wrong_kinds() {
    let _lock = serial();
    let start = rt_torch_live_handles();
    let stream = rt_torch_stream_create(RT_TORCH_DEVICE_CPU);
    assert!(!stream.is_null(), "{:?}", last_error());
    assert!(rt_torch_torchstream_query(stream));
    rt_torch_torchstream_sync(stream);
    assert_eq!(last_error(), None);

    let a = from_f32(&[1.0, -2.0], &[2]);
    let copy = rt_torch_torchtensor_to_stream(a, RT_TORCH_DEVICE_CPU, stream);
    assert_eq!(to_f32(copy), vec![1.0, -2.0]);
    assert_eq!(rt_torch_live_handles(), start + 3);

    // A stream where a tensor belongs, and the other way round: reported, nothing freed.
    assert!(rt_torch_torchtensor_relu(stream as *const TorchTensor).is_null());
    expect_error("is a stream handle, not a tensor handle");
    assert_eq!(rt_torch_last_error_kind(), RT_TORCH_ERROR_HANDLE);
    rt_torch_torchtensor_free(stream as *mut TorchTensor);
    expect_error("rt_torch_torchtensor_free: ");
    expect_error("is a stream handle, not a tensor handle");
    assert!(!rt_torch_torchstream_query(a as *mut TorchStream));
    expect_error("is a tensor handle, not a stream handle");
    rt_torch_torchstream_free(a as *mut TorchStream);
    expect_error("is a tensor handle, not a stream handle");
    assert_eq!(rt_torch_live_handles(), start + 3);

    if rt_torch_cuda_device_count() == 0 {
        assert!(rt_torch_stream_create(0).is_null());
        expect_error("rt_torch_stream_create: cannot use cuda:0: CUDA is not available");
        assert!(rt_torch_torchtensor_to_stream(a, 0, stream).is_null());
        expect_error("CUDA is not available");
    } else {
        let gpu_stream = rt_torch_stream_create(0);
        assert!(rt_torch_torchtensor_to_stream(a, 0, stream).is_null());
        expect_error("the stream must be on cuda:0");
        let on_gpu = rt_torch_torchtensor_to_stream(a, 0, gpu_stream);
        rt_torch_torchstream_sync(gpu_stream);
        assert!(rt_torch_torchstream_query(gpu_stream));
        assert_eq!(to_f32(on_gpu), vec![1.0, -2.0]);
        rt_torch_torchtensor_free(on_gpu);
        rt_torch_torchstream_free(gpu_stream);
    }
    assert!(rt_torch_stream_create(-5).is_null());
    expect_error("invalid device code -5");

    rt_torch_torchstream_free(stream);
    assert_eq!(last_error(), None);
    rt_torch_torchstream_free(stream);
    expect_error("stream handle");
    expect_error("was already freed");
    rt_torch_torchstream_free(null_mut());
    assert_eq!(last_error(), None);
    rt_torch_torchtensor_free(copy);
    rt_torch_torchtensor_free(a);
    assert_eq!(rt_torch_live_handles(), start);
}

#[test]
fn many_threads_share_the_registry() {
    let _lock = serial();
    let start = rt_torch_live_handles();
    let shared = from_f32(&[1.0, 2.0, 3.0], &[3]) as usize;
    let mismatched = from_f32(&[0.0, 0.0], &[2]) as usize;
    let workers: Vec<_> = (0..8)
        .map(|thread| {
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    let value = (thread * 10_000 + i) as f32;
                    let own = from_f32(&[value; 3], &[3]);
                    let sum = rt_torch_torchtensor_add(own, shared as *const TorchTensor);
                    assert_eq!(to_f32(sum), vec![value + 1.0, value + 2.0, value + 3.0]);
                    // This thread's error is this thread's, whatever the others do.
                    assert!(rt_torch_torchtensor_matmul(own, mismatched as *const TorchTensor).is_null());
                    expect_error("float32[3] on cpu with float32[2] on cpu");
                    rt_torch_torchtensor_free(sum);
                    rt_torch_torchtensor_free(own);
                    assert!(rt_torch_torchtensor_numel(own) == -1 && last_error().unwrap().contains("was already freed"));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    rt_torch_torchtensor_free(shared as *mut TorchTensor);
    rt_torch_torchtensor_free(mismatched as *mut TorchTensor);
    assert_eq!(rt_torch_live_handles(), start);
}

#[test]
fn dlpack_round_trips_share_memory_and_delete_once() {
    let _serial = serial();
    let exports = rt_torch_dlpack_live_exports();
    let source = from_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    for versioned in [false, true] {
        let managed = rt_torch_torchtensor_to_dlpack(source, versioned);
        assert!(!managed.is_null(), "{:?}", last_error());
        assert_eq!(rt_torch_dlpack_live_exports(), exports + 1);
        let imported = unsafe { rt_torch_tensor_from_dlpack(managed, versioned) };
        assert!(!imported.is_null(), "{:?}", last_error());
        assert_eq!(rt_torch_torchtensor_data_ptr(imported), rt_torch_torchtensor_data_ptr(source));
        // A view of the import keeps the export alive after the import's handle is gone.
        let transposed = rt_torch_torchtensor_transpose(imported, 0, 1);
        rt_torch_torchtensor_free(imported);
        assert_eq!(rt_torch_dlpack_live_exports(), exports + 1);
        let mut strides = [0i64; 2];
        assert_eq!(unsafe { rt_torch_torchtensor_strides(transposed, strides.as_mut_ptr(), 2) }, 2);
        assert_eq!(strides, [1, 3]);
        assert_eq!(to_f32(transposed), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        rt_torch_torchtensor_free(transposed);
        assert_eq!(rt_torch_dlpack_live_exports(), exports);
    }
    assert!(unsafe { rt_torch_tensor_from_dlpack(null_mut(), true) }.is_null());
    expect_error("rt_torch_tensor_from_dlpack: managed is NULL");
    rt_torch_torchtensor_free(source);
}

#[test]
fn conversions_and_views_match_tch() {
    let _serial = serial();
    let h = from_f32(&[1.5, -2.0, 3.0, 4.0], &[2, 2]);
    let theirs = Tensor::from_slice(&[1.5f32, -2.0, 3.0, 4.0]).reshape([2, 2]);
    let as_int = rt_torch_torchtensor_to_dtype(h, RT_TORCH_DTYPE_INT64);
    assert_eq!(rt_torch_torchtensor_dtype(as_int), RT_TORCH_DTYPE_INT64);
    let back = rt_torch_torchtensor_to_dtype(as_int, RT_TORCH_DTYPE_FLOAT32);
    assert_close(&to_f32(back), &tch_values(&theirs.to_kind(Kind::Int64).to_kind(Kind::Float)));
    let flat = unsafe { rt_torch_torchtensor_reshape(h, [4i64, 1].as_ptr(), 2) };
    assert_eq!(rt_torch_torchtensor_data_ptr(flat), rt_torch_torchtensor_data_ptr(h));
    assert_close(&to_f32(flat), &tch_values(&theirs.reshape([4, 1])));
    assert!(rt_torch_torchtensor_to_dtype(h, 8).is_null());
    expect_error("unknown dtype code 8");
    for handle in [h, as_int, back, flat] {
        rt_torch_torchtensor_free(handle);
    }
}

#[test]
fn a_one_rank_gloo_group_runs_collectives_and_checks_its_handles() {
    let _guard = serial();
    let start = rt_torch_live_handles();
    let dir = std::env::temp_dir().join(format!("simple_torch_abi_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = std::ffi::CString::new(dir.join("store").to_str().unwrap()).unwrap();
    let store = unsafe { rt_torch_store_file(path.as_ptr(), 1) };
    assert!(!store.is_null(), "{:?}", last_error());
    let (host, name) = (c"127.0.0.1", c"abi");
    let group = unsafe { rt_torch_process_group_gloo(store, 0, 1, 10_000, null(), host.as_ptr(), name.as_ptr(), true) };
    assert!(!group.is_null(), "{:?}", last_error());
    assert_eq!((rt_torch_torchprocessgroup_rank(group), rt_torch_torchprocessgroup_size(group)), (0, 1));

    // all_reduce MAX over one rank leaves the tensor as it is; the work says it is done.
    let t = from_f32(&[1.0, -2.0, 3.0], &[3]);
    let work = rt_torch_torchprocessgroup_all_reduce(group, t, 4);
    assert!(!work.is_null(), "{:?}", last_error());
    assert_eq!(rt_torch_torchwork_wait(work, -1), 1, "{:?}", last_error());
    assert_eq!(rt_torch_torchwork_is_completed(work), 1);
    assert_eq!(to_f32(t), vec![1.0, -2.0, 3.0]);
    rt_torch_torchwork_free(work);

    // The store: set, get (with the length), add.
    let key = c"k";
    assert!(unsafe { rt_torch_torchstore_set(store, key.as_ptr(), b"value".as_ptr(), 5) });
    let mut buffer = [0u8; 3];
    assert_eq!(unsafe { rt_torch_torchstore_get(store, key.as_ptr(), buffer.as_mut_ptr(), 3) }, 5);
    assert_eq!(&buffer, b"val");
    let mut value = 0;
    assert!(unsafe { rt_torch_torchstore_add(store, c"n".as_ptr(), 2, &mut value) });
    assert_eq!(value, 2);

    // Handles of the wrong kind, freed or made up are reported, and nothing is touched.
    assert!(rt_torch_torchprocessgroup_all_reduce(store.cast(), t, 0).is_null());
    expect_error("is a store handle, not a process group handle");
    assert!(rt_torch_torchprocessgroup_all_reduce(group, group.cast(), 0).is_null());
    expect_error("is a process group handle, not a tensor handle");
    assert_eq!(rt_torch_torchwork_wait(work, -1), -1);
    expect_error("work handle");
    expect_error("was already freed");
    assert_eq!(rt_torch_torchprocessgroup_rank(0xdead_beef as *const TorchProcessGroup), -1);
    expect_error("is not a process group handle returned by simple_torch");
    assert!(rt_torch_torchprocessgroup_all_reduce(group, t, 42).is_null());
    expect_error("unknown reduce op 42");
    assert_eq!(rt_torch_last_error_kind(), RT_TORCH_ERROR_DISTRIBUTED);

    rt_torch_torchtensor_free(t);
    rt_torch_torchprocessgroup_free(group);
    rt_torch_torchstore_free(store);
    assert_eq!(rt_torch_live_handles(), start);
    std::fs::remove_dir_all(&dir).ok();
}

// ---- the handle registry: slots, generations, the DEFERRABLE bit, batch release ---------------

/// A handle's slot index + 1 (bits 0..32) and generation (bits 32..62).
fn index_of(handle: u64) -> u64 {
    handle & 0xffff_ffff
}

fn generation_of(handle: u64) -> u64 {
    (handle >> 32) & ((1 << 30) - 1)
}

fn tensor_error(handle: u64) -> String {
    handles::tensor(handle as *const TorchTensor).err().expect("an error").message
}

#[test]
fn a_freed_slot_is_reused_with_its_next_generation() {
    let _lock = serial();
    let first = from_f32(&[1.0], &[1]) as u64;
    assert!(first >> 63 == 0 && index_of(first) != 0 && generation_of(first) >= 1, "{first:#x}");
    rt_torch_torchtensor_free(first as *mut TorchTensor);
    // The slot freed last is the first reused (this thread both frees and registers).
    let second = from_f32(&[2.0], &[1]) as u64;
    assert_eq!((index_of(second), generation_of(second)), (index_of(first), generation_of(first) + 1));
    assert_eq!(rt_torch_torchtensor_numel(first as *const TorchTensor), -1);
    expect_error(&format!("rt_torch_torchtensor_numel: tensor handle {first:#x} was already freed"));
    assert_eq!(to_f32(second as *const TorchTensor), [2.0]);

    // Values the registry never issued: the flag bit flipped, the next generation, bit 63,
    // generation 0 (a small integer), an index beyond every slot.
    let made_up = [second ^ handles::DEFERRABLE, second + (1 << 32), second | 1 << 63, index_of(second), 1 << 32 | 0xffff_fff0];
    for handle in made_up {
        assert_eq!(rt_torch_torchtensor_numel(handle as *const TorchTensor), -1);
        expect_error(&format!("{handle:#x} is not a tensor handle returned by simple_torch"));
        rt_torch_torchtensor_free(handle as *mut TorchTensor);
        expect_error(&format!("rt_torch_torchtensor_free: {handle:#x} is not a tensor handle returned by simple_torch"));
    }
    assert_eq!(to_f32(second as *const TorchTensor), [2.0]);
    rt_torch_torchtensor_free(second as *mut TorchTensor);
    assert_eq!(last_error(), None);
}

#[test]
fn small_cpu_tensors_are_deferrable() {
    let _lock = serial();
    let deferrable = |handle: *mut TorchTensor| handle as u64 & handles::DEFERRABLE != 0;
    let largest = handles::DEFERRABLE_BYTES as i64 / 4; // float32 elements
    let small = from_f32(&[1.0; 4], &[4]);
    let at_limit = unsafe { rt_torch_tensor_zeros([largest].as_ptr(), 1) };
    let over = unsafe { rt_torch_tensor_zeros([largest + 1].as_ptr(), 1) };
    assert!(deferrable(small) && deferrable(at_limit) && !deferrable(over));
    // A small view keeps all of its base's storage alive, so it counts that.
    let view = handles::register_tensor(Tensor::zeros([largest + 1], (Kind::Float, Device::Cpu)).narrow(0, 0, 1));
    let undefined = handles::register_tensor(Tensor::new());
    assert!(!deferrable(view) && deferrable(undefined));
    let stream = rt_torch_stream_create(RT_TORCH_DEVICE_CPU);
    assert!(!stream.is_null() && stream as u64 & handles::DEFERRABLE == 0);
    if rt_torch_cuda_device_count() > 0 {
        let on_gpu = rt_torch_torchtensor_cuda(small, 0);
        assert!(!on_gpu.is_null() && !deferrable(on_gpu));
        rt_torch_torchtensor_free(on_gpu);
    }
    for handle in [small, at_limit, over, view, undefined] {
        rt_torch_torchtensor_free(handle);
    }
    rt_torch_torchstream_free(stream);
    assert_eq!(last_error(), None);
}

#[test]
fn a_slot_retires_after_its_last_generation() {
    let _lock = serial();
    let start = rt_torch_live_handles();
    let handle = handles::register_tensor(Tensor::from(7i64));
    let aged = handles::skip_to_last_generation(handle).unwrap();
    assert_eq!((index_of(aged as u64), generation_of(aged as u64)), (index_of(handle as u64), (1 << 30) - 1));
    assert_eq!(handles::tensor(aged).unwrap().0.int64_value(&[]), 7);
    assert_eq!(tensor_error(handle as u64), format!("tensor handle {:#x} was already freed", handle as u64));
    handles::release_tensor(aged).unwrap();

    // Freed with its last generation, the slot is never reused: these would get it first.
    let later: Vec<_> = (0..3000).map(|_| handles::register_tensor(Tensor::new())).collect();
    assert!(later.iter().all(|&h| index_of(h as u64) != index_of(aged as u64)));
    for stale in [handle, aged] {
        assert_eq!(tensor_error(stale as u64), format!("tensor handle {:#x} was already freed", stale as u64));
    }
    assert_eq!(handles::release_tensors(&later.iter().map(|&h| h.cast_const()).collect::<Vec<_>>()), later.len());
    assert_eq!(rt_torch_live_handles(), start);
}

/// xorshift64: the same draws in every run, no dependency.
fn draw(state: &mut u64) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state as usize
}

#[test]
fn threads_free_what_other_threads_look_up() {
    let _lock = serial();
    let start = rt_torch_live_handles();
    // Handles shared by all threads: each thread puts its new handle in a random entry and frees
    // the one it replaces, while the others look entries up.
    let pool: Arc<Vec<AtomicU64>> = Arc::new((0..64).map(|_| AtomicU64::new(0)).collect());
    let workers: Vec<_> = (0..8u64)
        .map(|thread| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                let mut state = 0x9e37_79b9_7f4a_7c15 ^ thread;
                for _ in 0..10_000 {
                    // Each tensor holds its own handle, so a lookup can tell that it got that one.
                    let handle = handles::register_tensor(Tensor::from(0i64));
                    let _ = handles::tensor(handle).unwrap().0.shallow_clone().fill_(handle as i64);
                    let replaced = pool[draw(&mut state) % pool.len()].swap(handle as u64, Ordering::AcqRel);
                    if replaced != 0 {
                        handles::release_tensor(replaced as *mut TorchTensor).unwrap();
                    }
                    let other = pool[draw(&mut state) % pool.len()].load(Ordering::Acquire);
                    match handles::tensor(other as *const TorchTensor) {
                        Ok(tensor) => assert_eq!(tensor.0.int64_value(&[]), other as i64),
                        Err(error) if other == 0 => assert!(error.message.ends_with("is NULL"), "{}", error.message),
                        Err(error) => assert!(error.message.ends_with("was already freed"), "{}", error.message),
                    }
                    // Through the C ABI too: freed meanwhile, or alive.
                    if other != 0 && rt_torch_torchtensor_numel(other as *const TorchTensor) == -1 {
                        expect_error("was already freed");
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(rt_torch_live_handles(), start + pool.iter().filter(|entry| entry.load(Ordering::Relaxed) != 0).count() as i64);

    // Threads racing to release the same handles release each exactly once.
    let batch: Arc<Vec<u64>> = Arc::new(pool.iter().map(|entry| entry.swap(0, Ordering::Relaxed)).chain((0..1000).map(|_| handles::register_tensor(Tensor::new()) as u64)).collect());
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let batch = Arc::clone(&batch);
            std::thread::spawn(move || unsafe { rt_torch_torchtensor_finalize_many(batch.as_ptr().cast(), batch.len() as i64) })
        })
        .collect();
    let released: i64 = racers.into_iter().map(|racer| racer.join().unwrap()).sum();
    assert_eq!(released, batch.iter().filter(|&&h| h != 0).count() as i64);
    assert_eq!(rt_torch_live_handles(), start);
}

#[test]
fn finalize_many_releases_live_tensors_and_leaves_the_error_slot_alone() {
    let _lock = serial();
    let start = rt_torch_live_handles();
    let live: Vec<_> = (0..5).map(|i| from_f32(&[i as f32], &[1])).collect();
    let freed = from_f32(&[9.0], &[1]);
    rt_torch_torchtensor_free(freed);
    let stream = rt_torch_stream_create(RT_TORCH_DEVICE_CPU);
    let mut batch: Vec<*const TorchTensor> = live.iter().map(|&h| h.cast_const()).collect();
    let flipped = (live[1] as u64 ^ handles::DEFERRABLE) as *const TorchTensor;
    batch.extend([null(), freed, 0xdead_beef as *const TorchTensor, stream as *const TorchTensor, live[0], flipped]);

    // Bad handles, a duplicate, a stream: skipped. The stale error stays where it was.
    assert!(rt_torch_torchtensor_relu(null()).is_null());
    assert_eq!(unsafe { rt_torch_torchtensor_finalize_many(batch.as_ptr(), batch.len() as i64) }, 5);
    expect_error("rt_torch_torchtensor_relu: the tensor handle is NULL");
    assert_eq!(rt_torch_live_handles(), start + 1);
    assert!(rt_torch_torchstream_query(stream), "{:?}", last_error());

    // Nor does it record one: all freed now, and bad arguments.
    rt_torch_clear_error();
    assert_eq!(unsafe { rt_torch_torchtensor_finalize_many(batch.as_ptr(), batch.len() as i64) }, 0);
    assert_eq!(unsafe { rt_torch_torchtensor_finalize_many(null(), 3) }, -1);
    assert_eq!(unsafe { rt_torch_torchtensor_finalize_many(batch.as_ptr(), -1) }, -1);
    assert_eq!(unsafe { rt_torch_torchtensor_finalize_many(null(), 0) }, 0);
    assert_eq!(last_error(), None);
    rt_torch_torchstream_free(stream);
    assert_eq!(rt_torch_live_handles(), start);
}

#[test]
fn a_tensor_looked_up_outlives_its_release_and_keeps_its_slot() {
    let _lock = serial();
    let start = rt_torch_live_handles();
    let handle = handles::register_tensor(Tensor::from(5i64));
    let id = handle as u64;
    let held = handles::tensor(handle).unwrap();
    let also_held = handles::tensor(handle).unwrap();
    // Released while looked up (as a hook freeing a call's input does): at once, no waiting.
    handles::release_tensor(handle).unwrap();
    assert_eq!(rt_torch_live_handles(), start);
    assert_eq!(tensor_error(id), format!("tensor handle {id:#x} was already freed"));
    assert_eq!(handles::release_tensor(handle).unwrap_err().message, format!("tensor handle {id:#x} was already freed"));
    assert_eq!(handles::release_tensors(&[handle.cast_const()]), 0);
    assert_eq!(held.0.int64_value(&[]), 5);
    drop(held);
    assert_eq!(also_held.0.int64_value(&[]), 5);
    // The slot is not reused while a reader is inside: this thread's registrations would get it
    // first once freed.
    let others: Vec<_> = (0..100).map(|_| handles::register_tensor(Tensor::new())).collect();
    assert!(others.iter().all(|&h| index_of(h as u64) != index_of(id)));
    assert_eq!(handles::release_tensors(&others.iter().map(|&h| h.cast_const()).collect::<Vec<_>>()), others.len());
    // A guard dropped on another thread frees the slot there.
    std::thread::spawn(move || drop(also_held)).join().unwrap();
    assert_eq!(tensor_error(id), format!("tensor handle {id:#x} was already freed"));
    let reused: Vec<_> = (0..2000).map(|_| handles::register_tensor(Tensor::new())).collect();
    let again = reused.iter().find(|&&h| index_of(h as u64) == index_of(id)).expect("the slot is reused") ;
    assert_eq!(generation_of(*again as u64), generation_of(id) + 1);
    assert_eq!(tensor_error(id), format!("tensor handle {id:#x} was already freed"));
    assert_eq!(handles::release_tensors(&reused.iter().map(|&h| h.cast_const()).collect::<Vec<_>>()), reused.len());

    // Freed by this thread's own release while looked up, then reused at once after.
    let handle = handles::register_tensor(Tensor::from(6i64));
    let held = handles::tensor(handle).unwrap();
    handles::release_tensor(handle).unwrap();
    let other = handles::register_tensor(Tensor::new());
    assert_ne!(index_of(other as u64), index_of(handle as u64));
    assert_eq!(handles::awaiting_last_reader(), 1);
    drop(held);
    assert_eq!(handles::awaiting_last_reader(), 0);
    let next = handles::register_tensor(Tensor::new());
    assert_eq!((index_of(next as u64), generation_of(next as u64)), (index_of(handle as u64), generation_of(handle as u64) + 1));
    assert_eq!(handles::release_tensors(&[other.cast_const(), next.cast_const()]), 2);
    assert_eq!(rt_torch_live_handles(), start);
}

#[test]
fn lookups_held_across_other_threads_releases_free_each_tensor_once() {
    let _lock = serial();
    let start = rt_torch_live_handles();
    let pool: Arc<Vec<AtomicU64>> = Arc::new((0..16).map(|_| AtomicU64::new(0)).collect());
    let workers: Vec<_> = (0..8u64)
        .map(|thread| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                let mut state = 0x2545_f491_4f6c_dd1d ^ thread;
                for i in 0..20_000 {
                    let handle = handles::register_tensor(Tensor::from(0i64));
                    let _ = handles::tensor(handle).unwrap().0.shallow_clone().fill_(handle as i64);
                    // Some lookups outlive the release of their handle (by this thread or another).
                    let other = pool[draw(&mut state) % pool.len()].load(Ordering::Acquire);
                    let held = handles::tensor(other as *const TorchTensor);
                    let replaced = pool[draw(&mut state) % pool.len()].swap(handle as u64, Ordering::AcqRel);
                    if replaced != 0 {
                        handles::release_tensor(replaced as *mut TorchTensor).unwrap();
                    }
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                    match held {
                        Ok(tensor) => assert_eq!(tensor.0.int64_value(&[]), other as i64),
                        Err(error) if other == 0 => assert!(error.message.ends_with("is NULL"), "{}", error.message),
                        Err(error) => assert!(error.message.ends_with("was already freed"), "{}", error.message),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let left: Vec<_> = pool.iter().map(|entry| entry.swap(0, Ordering::Relaxed)).filter(|&h| h != 0).collect();
    assert_eq!(rt_torch_live_handles(), start + left.len() as i64);
    // Every tensor released while looked up was freed by its last reader.
    assert_eq!(handles::awaiting_last_reader(), 0);
    for &handle in &left {
        assert_eq!(handles::tensor(handle as *const TorchTensor).unwrap().0.int64_value(&[]), handle as i64);
    }
    assert_eq!(handles::release_tensors(&left.iter().map(|&h| h as *const TorchTensor).collect::<Vec<_>>()), left.len());
    assert_eq!(rt_torch_live_handles(), start);
}
