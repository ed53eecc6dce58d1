//! Streams (the seed design's stream_create, sync, query, to_stream and free; the current
//! stream) and CUDA events.

use std::ffi::c_void;
use std::panic::catch_unwind;
use std::ptr::null_mut;

use tch::Device;

use crate::abi::devices::moved;
use crate::codes::{self, describe, device_name};
use crate::error::{guard, Error};
use crate::handles::{self, register_event, register_stream, register_tensor, TorchEvent, TorchStream, TorchTensor};
use crate::streams::{Event, Stream};

/// A new stream on the device with code `device_id`: N >= 0 a CUDA stream on `cuda:N`
/// (from libtorch's stream pool), -1 a CPU stream, on which work is done as soon as it is
/// issued. NULL on error, e.g. without CUDA.
#[no_mangle]
pub extern "C" fn rt_torch_stream_create(device_id: i32) -> *mut TorchStream {
    guard("rt_torch_stream_create", null_mut(), || Ok(register_stream(Stream::new(device_id)?)))
}

/// Waits until all work queued on the stream is done.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_sync(s: *mut TorchStream) {
    guard("rt_torch_torchstream_sync", (), || handles::stream(s)?.synchronize())
}

/// True when all work queued on the stream is done; false if not, and false with an error
/// recorded on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_query(s: *mut TorchStream) -> bool {
    guard("rt_torch_torchstream_query", false, || handles::stream(s)?.query())
}

/// Copies the tensor to the device with code `device_id`, queued on stream `s` without
/// blocking the caller (truly asynchronous for pinned CPU memory). The stream must be on the
/// GPU involved: the destination, or for a copy to the CPU the source. Synchronize the stream
/// before reading the result from elsewhere. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_to_stream(h: *const TorchTensor, device_id: i32, s: *mut TorchStream) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_to_stream", null_mut(), || {
        let (tensor, stream) = (handles::tensor(h)?, handles::stream(s)?);
        let destination = codes::device_from_code(device_id)?;
        let copy_device = match (destination, tensor.0.device()) {
            (Device::Cpu, source) => source,
            (destination, _) => destination,
        };
        if copy_device != stream.device() {
            return Err(Error::argument(format!(
                "cannot copy {} to {} on {}: the stream must be on {}",
                describe(&tensor.0),
                device_name(destination),
                stream.describe(),
                device_name(copy_device)
            )));
        }
        let copy = stream.run(|| moved(&tensor, destination, true))?;
        Ok(register_tensor(copy))
    })
}

/// Releases a stream handle (the stream itself belongs to libtorch's pool). NULL is a no-op;
/// a freed or unknown handle records an error and touches nothing.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_free(s: *mut TorchStream) {
    guard("rt_torch_torchstream_free", (), || if s.is_null() { Ok(()) } else { handles::release_stream(s) })
}

/// A handle to the calling thread's current stream on the device with code `device_id` (what
/// libtorch queues that device's work on): the default stream unless one was made current.
/// -1 gives the CPU stream. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_stream_current(device_id: i32) -> *mut TorchStream {
    guard("rt_torch_stream_current", null_mut(), || Ok(register_stream(Stream::current(device_id)?)))
}

/// Makes the stream current on its device for the calling thread, as `torch.cuda.set_stream`
/// does: libtorch queues the thread's later work for that device on it. A CPU stream: no-op.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_set_current(s: *mut TorchStream) {
    guard("rt_torch_torchstream_set_current", (), || handles::stream(s)?.make_current())
}

/// The stream's device code: -1 the CPU, N `cuda:N`, -2 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_device(s: *mut TorchStream) -> i32 {
    guard("rt_torch_torchstream_device", -2, || codes::device_code(handles::stream(s)?.device()))
}

/// The stream's `cudaStream_t`, for other CUDA libraries; NULL for a CPU stream and for CUDA's
/// legacy default stream (check `rt_torch_last_error()` to tell NULL from an error).
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_cuda_stream(s: *mut TorchStream) -> *mut c_void {
    guard("rt_torch_torchstream_cuda_stream", null_mut(), || handles::stream(s)?.raw())
}

/// Makes work queued on the stream from now on wait until the event's recorded work is done,
/// without blocking the caller (a CPU stream blocks the caller instead).
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_wait_event(s: *mut TorchStream, e: *mut TorchEvent) {
    guard("rt_torch_torchstream_wait_event", (), || {
        let (stream, event) = (handles::stream(s)?, handles::event(e)?);
        stream.wait_event(&event)
    })
}

// ---- events ----------------------------------------------------------------------------------

/// A new CUDA event, to mark a point in a stream's work, wait for it, or time work between two
/// events (`enable_timing`). It takes the device of the stream it is first recorded on. NULL on
/// error, e.g. without CUDA.
#[no_mangle]
pub extern "C" fn rt_torch_event_create(enable_timing: bool) -> *mut TorchEvent {
    guard("rt_torch_event_create", null_mut(), || Ok(register_event(Event::new(enable_timing)?)))
}

/// Records the event on a CUDA stream: it completes when the work queued there before it has.
#[no_mangle]
pub extern "C" fn rt_torch_torchevent_record(e: *mut TorchEvent, s: *mut TorchStream) {
    guard("rt_torch_torchevent_record", (), || {
        let (event, stream) = (handles::event(e)?, handles::stream(s)?);
        event.record(&stream)
    })
}

/// True when the event's recorded work is done (or it was never recorded); false if not, and
/// false with an error recorded on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchevent_query(e: *mut TorchEvent) -> bool {
    guard("rt_torch_torchevent_query", false, || handles::event(e)?.query())
}

/// Waits until the event's recorded work is done.
#[no_mangle]
pub extern "C" fn rt_torch_torchevent_synchronize(e: *mut TorchEvent) {
    guard("rt_torch_torchevent_synchronize", (), || handles::event(e)?.synchronize())
}

/// Milliseconds of GPU time from `start` to `end`, both created with timing enabled, recorded
/// on the same device and completed. -1 on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchevent_elapsed_time(start: *mut TorchEvent, end: *mut TorchEvent) -> f64 {
    guard("rt_torch_torchevent_elapsed_time", -1.0, || {
        let (start, end) = (handles::event(start)?, handles::event(end)?);
        start.elapsed_ms(&end)
    })
}

/// Releases an event handle. NULL is a no-op; a freed or unknown handle records an error and
/// touches nothing.
#[no_mangle]
pub extern "C" fn rt_torch_torchevent_free(e: *mut TorchEvent) {
    guard("rt_torch_torchevent_free", (), || if e.is_null() { Ok(()) } else { handles::release_event(e) })
}

/// Releases a stream handle as `rt_torch_torchstream_free` does, but leaves the calling thread's
/// error slot alone and ignores NULL, freed and unknown handles: for finalizers.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_finalize(s: *mut TorchStream) {
    if !s.is_null() {
        let _ = catch_unwind(|| handles::release_stream(s));
    }
}

/// Releases an event handle as `rt_torch_torchevent_free` does, but leaves the calling thread's
/// error slot alone and ignores NULL, freed and unknown handles: for finalizers.
#[no_mangle]
pub extern "C" fn rt_torch_torchevent_finalize(e: *mut TorchEvent) {
    if !e.is_null() {
        let _ = catch_unwind(|| handles::release_event(e));
    }
}
